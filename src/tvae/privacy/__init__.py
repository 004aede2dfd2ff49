"""Differential privacy for the whole pipeline: ``TVAE(epsilon=..., delta=...)``.

See ``docs/privacy.md``: what is accounted, how the budget is split, what may be declared public.
"""

from tvae.privacy.accountant import Accountant
from tvae.privacy.plan import BudgetPlan, plan_budget

__all__ = ["Accountant", "BudgetPlan", "plan_budget"]
