"""``manage.py edd fit [--tenant SLUG]`` and ``manage.py edd backtest [--tenant SLUG]``.

``fit`` refits delivery-date models now (every active tenant and then the platform prior, or one
tenant); beat also does it daily. ``backtest`` replays a tenant's history in time order (a model
trained on the months before predicts each month's parcels at shipping time) and prints the range
hit rate, the exact-day hit rate and the mean absolute error in days, overall, per carrier and per
lane, next to the naive baseline (the carrier's average transit time). The report is also stored
for the dashboard.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from tenants.models import Tenant
from wismo.tracking.services import edd


class Command(BaseCommand):
    help = "Delivery-date models: fit [--tenant SLUG], backtest [--tenant SLUG] [--months N]."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        fit = sub.add_parser("fit", help="Refit delivery-date models now.")
        fit.add_argument("--tenant", help="the tenant's slug (default: every active tenant)")
        backtest = sub.add_parser("backtest", help="Replay history and report accuracy.")
        backtest.add_argument("--tenant", help="the tenant's slug (default: every active tenant)")
        backtest.add_argument("--months", type=int, default=6, help="monthly folds (default 6)")

    def handle(self, *args, action: str, **options):
        tenants = self._tenants(options.get("tenant"))
        if action == "fit":
            for tenant in tenants:
                result = edd.edd_fit(tenant=tenant)
                self.stdout.write(
                    f"{tenant.slug}: fitted on {result.samples} delivered parcels in "
                    f"{result.seconds:.1f}s (model v{result.version}, range mass "
                    f"{result.range_mass:.2f})"
                )
            if not options.get("tenant"):
                prior = edd.edd_prior_fit()
                groups = sum(len(g) for g in prior.data.get("hists", {}).values())
                self.stdout.write(
                    f"prior: {groups} groups shared by at least 3 of {prior.tenants} tenants "
                    f"(v{prior.version})"
                )
        elif action == "backtest":
            if options["months"] < 1:
                raise CommandError("--months must be at least 1")
            for tenant in tenants:
                report = edd.edd_backtest(tenant=tenant, months=options["months"])
                self._print_report(tenant, report.as_dict())

    def _tenants(self, slug: str | None) -> list[Tenant]:
        if slug is None:
            return list(Tenant.objects.filter(is_active=True).order_by("slug"))
        tenant = Tenant.objects.filter(slug=slug).first()
        if tenant is None:
            raise CommandError(f"No tenant with slug {slug!r}.")
        return [tenant]

    def _print_report(self, tenant: Tenant, report: dict) -> None:
        overall = report["overall"]
        folds = ", ".join(f"{f['month']} ({f['scored']})" for f in report["folds"]) or "none"
        self.stdout.write(f"{tenant.slug}: backtest, monthly folds: {folds}")
        if not overall["n"]:
            self.stdout.write("  not enough delivered history to backtest")
            return
        self.stdout.write(self._line("overall", overall))
        self.stdout.write(
            f"  {'naive baseline':28} exact day {overall['naive_exact_day_hit_rate']:6.1%}  "
            f"MAE {overall['naive_mae_days']:.2f} days (the carrier's average transit time)"
        )
        for title, key in (("carrier", "carriers"), ("lane", "lanes")):
            for name, score in report[key].items():
                self.stdout.write(self._line(f"{title} {name}", score))

    @staticmethod
    def _line(name: str, score: dict) -> str:
        return (
            f"  {name:28} n={score['n']:<7} range hit {score['range_hit_rate']:6.1%}  "
            f"exact day {score['exact_day_hit_rate']:6.1%}  MAE {score['mae_days']:.2f} days  "
            f"median width {score['median_range_width_days']} days"
        )
