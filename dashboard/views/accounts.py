"""Sign in (with an optional second factor), invitations, tenant switching, two-factor setup."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.http import require_POST

from dashboard.access import DASHBOARD_CSP, SESSION_2FA_KEY, needs_second_factor
from dashboard.services import accounts
from tenants.middleware import SESSION_KEY
from tenants.services import user_tenants


def _client_ip(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR", "")


def _safe_next(request: HttpRequest, fallback: str = "/dashboard/") -> str:
    target = request.POST.get("next") or request.GET.get("next") or fallback
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


def _csp(response: HttpResponse) -> HttpResponse:
    response.setdefault("Content-Security-Policy", DASHBOARD_CSP)
    return response


class ThrottledAuthenticationForm(auth_views.AuthenticationForm):
    """Django's sign-in form, refusing after repeated failures for one address and name."""

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        ip = _client_ip(self.request) if self.request else ""
        if not accounts.login_allowed(ip=ip, username=username):
            raise ValidationError(
                "Too many failed attempts. Wait a few minutes or reset your password.",
                code="throttled",
            )
        try:
            return super().clean()
        except ValidationError:
            accounts.login_failed(ip=ip, username=username)
            raise


class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    form_class = ThrottledAuthenticationForm
    redirect_authenticated_user = True

    def form_valid(self, form):
        accounts.login_succeeded(ip=_client_ip(self.request), username=form.get_user().username)
        response = super().form_valid(form)
        if needs_second_factor(self.request):
            return redirect(
                "/accounts/login/verify/?" + urlencode({"next": self.get_success_url()})
            )
        return response

    def get_default_redirect_url(self) -> str:
        return "/dashboard/"

    def render_to_response(self, context, **kwargs):
        return _csp(super().render_to_response(context, **kwargs))


class CodeForm(forms.Form):
    code = forms.CharField(
        max_length=32,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


@login_required
def verify_second_factor(request: HttpRequest) -> HttpResponse:
    """The second step of signing in: a code from the authenticator, or a recovery code."""
    if not needs_second_factor(request):
        return redirect(_safe_next(request))
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        ip = _client_ip(request)
        if not accounts.login_allowed(ip=ip, username=request.user.username):
            form.add_error("code", "Too many failed attempts. Wait a few minutes.")
        elif accounts.totp_verify(user=request.user, code=form.cleaned_data["code"]):
            request.session.cycle_key()
            request.session[SESSION_2FA_KEY] = True
            return redirect(_safe_next(request))
        else:
            accounts.login_failed(ip=ip, username=request.user.username)
            form.add_error("code", "That code is not right.")
    return _csp(render(request, "registration/verify.html", {"form": form}))


@login_required
def two_factor_setup(request: HttpRequest) -> HttpResponse:
    """Turn two-factor authentication on (scan, confirm, keep the recovery codes) or off."""
    device = (
        getattr(request.user, "two_factor", None) if hasattr(request.user, "two_factor") else None
    )
    if needs_second_factor(request):
        return redirect("/accounts/login/verify/?" + urlencode({"next": request.path}))
    form = CodeForm(request.POST or None)
    context: dict = {"form": form, "device": device}
    action = request.POST.get("action")
    if request.method == "POST" and action == "begin":
        device = accounts.totp_begin(user=request.user)
        context.update(device=device, form=CodeForm())
    elif request.method == "POST" and action == "confirm" and form.is_valid():
        try:
            context["recovery_codes"] = accounts.totp_confirm(
                user=request.user, code=form.cleaned_data["code"]
            )
            request.session[SESSION_2FA_KEY] = True
            request.user.refresh_from_db()
            context["device"] = request.user.two_factor
        except ValidationError as exc:
            form.add_error(None, exc)
    elif request.method == "POST" and action == "disable" and form.is_valid():
        try:
            accounts.totp_disable(user=request.user, code=form.cleaned_data["code"])
            messages.success(request, "Two-factor authentication is off.")
            return redirect("two-factor")
        except ValidationError as exc:
            form.add_error(None, exc)
    device = context.get("device")
    if device is not None and not device.is_confirmed:
        context["qr_svg"] = accounts.totp_qr_svg(device)
        context["secret"] = device.secret
    return _csp(render(request, "registration/two_factor.html", context))


class AcceptForm(forms.Form):
    password1 = forms.CharField(label="Password", widget=forms.PasswordInput, required=False)
    password2 = forms.CharField(label="Password again", widget=forms.PasswordInput, required=False)

    def clean(self):
        data = super().clean()
        if data.get("password1") != data.get("password2"):
            raise ValidationError("The two passwords differ.")
        if data.get("password1"):
            from django.contrib.auth.password_validation import validate_password

            validate_password(data["password1"])
        return data


def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    """Open an invitation link: join with the signed-in account, or choose a password."""
    invitation = accounts.invitation_find(token)
    if invitation is None:
        return _csp(render(request, "registration/invitation_invalid.html", status=404))
    form = AcceptForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            membership = accounts.invitation_accept(
                token=token,
                user=request.user if request.user.is_authenticated else None,
                password=form.cleaned_data.get("password1") or None,
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            if not request.user.is_authenticated:
                auth_login(
                    request, membership.user, backend="django.contrib.auth.backends.ModelBackend"
                )
            request.session[SESSION_KEY] = membership.tenant_id
            messages.success(request, f"Welcome to {membership.tenant.name}.")
            return redirect("/dashboard/")
    response = render(
        request, "registration/invitation_accept.html", {"invitation": invitation, "form": form}
    )
    # The token is in the URL: never sent to another site. Not "no-referrer": with it browsers
    # send "Origin: null" on the form's POST, which Django's CSRF check refuses.
    response["Referrer-Policy"] = "same-origin"
    return _csp(response)


@login_required
@require_POST
def tenant_switch(request: HttpRequest) -> HttpResponse:
    """Make another of the user's tenants the current one (only one they belong to)."""
    try:
        wanted = int(request.POST.get("tenant", ""))
    except ValueError:
        wanted = None
    if any(m.tenant_id == wanted for m in user_tenants(request.user)):
        request.session[SESSION_KEY] = wanted
    else:
        messages.error(request, "You are not a member of that shop.")
    return redirect("/dashboard/")
