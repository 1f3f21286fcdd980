"""Sign in and out, password reset, two-factor, invitations: under /accounts/."""

from django.contrib.auth import views as auth_views
from django.urls import path

from dashboard.views import accounts

urlpatterns = [
    path("login/", accounts.LoginView.as_view(), name="login"),
    path("login/verify/", accounts.verify_second_factor, name="login-verify"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("two-factor/", accounts.two_factor_setup, name="two-factor"),
    path("invite/<str:token>/", accounts.invitation_accept, name="invitation-accept"),
    path(
        "password/change/",
        auth_views.PasswordChangeView.as_view(success_url="/accounts/password/change/done/"),
        name="password_change",
    ),
    path(
        "password/change/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("password/reset/", auth_views.PasswordResetView.as_view(), name="password_reset"),
    path(
        "password/reset/sent/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "password/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password/reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
]
