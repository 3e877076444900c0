"""Synthetic ``features.account_features`` rows with planted personas (for segmentation tests only)."""

import numpy as np
import pandas as pd

from seg_pipeline.features import registry

# persona -> (wau, active_days, breadth, key_adoption, api_share, exports, invites, wau_trend, tickets, p1,
#             resolution_h, csat, backlog, seats, seat_util, mrr, tenure_weeks)
PERSONAS: dict[str, tuple[float, ...]] = {
    "power_users": (40, 6.5, 10, 0.9, 0.08, 20, 4, 0.05, 1, 0.1, 8, 4.5, 0.5, 50, 0.85, 5000, 120),
    "steady_core": (15, 4.5, 5, 0.5, 0.06, 4, 0.5, 0.0, 0.5, 0.05, 12, 4.2, 0.3, 25, 0.6, 1500, 100),
    "struggling_adopters": (10, 3.5, 3, 0.3, 0.05, 2, 0.3, -0.05, 6, 1.5, 60, 2.5, 4, 25, 0.4, 1500, 60),
    "declining_at_risk": (4, 1.5, 2, 0.2, 0.05, 0.5, 0.1, -0.6, 1, 0.2, 24, 3.5, 0.8, 25, 0.15, 1500, 150),
    "expansion_candidates": (30, 6.0, 7, 0.7, 0.07, 8, 3, 0.3, 0.5, 0.05, 10, 4.4, 0.3, 20, 1.4, 1200, 90),
    "new_onboarding": (6, 3.0, 3, 0.25, 0.05, 1, 2, 0.5, 1.5, 0.1, 12, 4.0, 0.5, 15, 0.4, 800, 4),
    "dormant": (0.3, 0.2, 0.2, 0.02, 0.02, 0.05, 0.01, -0.05, 0.05, 0.0, 0.0, 4.0, 0.02, 15, 0.02, 600, 130),
    "api_integrators": (2, 7.0, 1, 0.25, 0.97, 0.2, 0.05, 0.0, 0.3, 0.05, 10, 4.1, 0.2, 5, 0.4, 900, 80),
}
SHARES = {"api_integrators": 0.025, "outlier": 0.005}
COUNT_COLS = ("weekly_active_users", "exports", "invites", "tickets_opened", "p1_tickets", "open_backlog")
BASE_COLS = (
    "weekly_active_users", "active_days", "feature_breadth", "key_feature_adoption", "api_share", "exports",
    "invites", "wau_trend", "tickets_opened", "p1_tickets", "median_resolution_hours", "csat_avg", "open_backlog",
    "seats", "seat_utilisation", "mrr", "tenure_weeks",
)


def make_accounts(n: int, seed: int = 0, *, id_offset: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """(features, persona) for ``n`` accounts: 7 personas, ~2.5 % API integrators, ~0.5 % outliers."""
    rng = np.random.default_rng(seed)
    main = [p for p in PERSONAS if p != "api_integrators"]
    rest = 1.0 - sum(SHARES.values())
    probs = [rest / len(main)] * len(main) + [SHARES["api_integrators"], SHARES["outlier"]]
    persona = rng.choice([*main, "api_integrators", "outlier"], size=n, p=probs)
    means = np.array([PERSONAS[p] for p in [*main, "api_integrators", "steady_core"]])
    codes = {p: i for i, p in enumerate([*main, "api_integrators", "outlier"])}
    rows = means[np.array([codes[p] for p in persona])]
    noise = rng.lognormal(0.0, 0.25, size=rows.shape)
    rows = rows * noise
    frame = pd.DataFrame(rows, columns=BASE_COLS)
    for c in COUNT_COLS:
        frame[c] = rng.poisson(frame[c].clip(lower=0))
    frame["active_days"] = frame["active_days"].clip(0, 7).round()
    frame["feature_breadth"] = frame["feature_breadth"].clip(0, 12).round()
    frame["key_feature_adoption"] = frame["key_feature_adoption"].clip(0, 1)
    frame["api_share"] = frame["api_share"].clip(0, 1)
    frame["wau_trend"] = means[np.array([codes[p] for p in persona]), 7] + rng.normal(0, 0.08, n)
    frame["csat_avg"] = frame["csat_avg"].clip(1, 5)
    frame["seats"] = frame["seats"].round().clip(lower=1)
    frame["seat_utilisation"] = frame["seat_utilisation"].clip(0, 1.5)
    frame["tenure_weeks"] = frame["tenure_weeks"].round()
    out = persona == "outlier"
    frame.loc[out, ["weekly_active_users", "exports", "tickets_opened", "seats", "mrr"]] *= 40
    frame["activation_score"] = 25 * (
        frame["feature_breadth"] / 12 + frame["key_feature_adoption"] + frame["active_days"] / 7
        + frame["seat_utilisation"].clip(upper=1)
    )
    frame["support_load_score"] = (
        100 * (frame["tickets_opened"] + 3 * frame["p1_tickets"] + frame["open_backlog"]) / (frame["seats"] + 10)
    ).clip(upper=100)
    # four weeks of P1s: this week's plus three more weeks drawn around the persona's rate
    frame["p1_tickets_4w"] = frame["p1_tickets"] + rng.poisson(3 * means[np.array([codes[p] for p in persona]), 9])
    frame["tickets_4w"] = frame["tickets_opened"] + rng.poisson(3 * means[np.array([codes[p] for p in persona]), 8])
    frame.insert(0, "account_id", [f"acc_{i + id_offset:06d}" for i in range(n)])
    cols = ["account_id", *registry.feature_names(clustering_only=True)]
    return frame[cols], pd.Series(persona, index=frame["account_id"], name="persona")
