"""The built-in simulated social e-commerce platform (``fission simulate``).

``simulate(out_dir, year=, users=, seed=)`` writes every simulated contract table as Parquet into
``out_dir`` plus ``truth.json`` (the planted rates), and returns the truth dict. Modules:
calendar (clock, seasonality), params (true parameters), catalog (items, suppliers, latent
factors), campaigns (KOLs, campaigns, live sessions), users (arrivals, demographics),
sharing (referral cascade), groups (拼团), fraud (rings), experiments (A/B), orders (orders,
items, returns, reviews), events (behaviour log), service (tickets), supply (purchase orders,
inventory), truths (the latent truths: true churn times, full acquisition cost, the next 12
months' purchases, monthly buyers), writer (Parquet), core (the pipeline). The users' ordering
runs on for two hidden years after the data end (calendar.CONTINUATION_DAYS) so that those
truths come from an uncensored history; nothing after the data end is written."""
from __future__ import annotations

from .core import simulate

__all__ = ["simulate"]
