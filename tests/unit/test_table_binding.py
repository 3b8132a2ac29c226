"""Table models are bound to the environment's table names when their module is imported, before or after the
container's settings are known: a container binds only the tables it uses, and none is left unbound."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.support.stack import ROOT

pytestmark = pytest.mark.unit

# In a process of its own: binding changes the models' class state for the rest of the process.
_CHECK = """
import dataclasses, importlib, json, pkgutil, sys
from pynamodb.models import Model
import fenxiao.adapters
from fenxiao.adapters import shops
from fenxiao.adapters.tables import bind_tables
from fenxiao.config import Settings, settings_from_env

fields = [f.name for f in dataclasses.fields(Settings)]
names = {f: f"t-{f}" for f in fields if f.endswith("_table")}
env = {"FENXIAO_" + f.upper(): "x" for f in fields} | {
    "FENXIAO_" + f.upper(): n for f, n in names.items()
}
env |= {"FENXIAO_ALLOW_LOOPBACK_IMAGES": "false", "FENXIAO_ALLOW_CLOCK_OVERRIDE": "false", "FENXIAO_REGION": "eu-west-1"}
before = sorted(m for m in sys.modules if m.startswith("fenxiao.adapters."))
bind_tables(settings_from_env(env))
for m in pkgutil.iter_modules(fenxiao.adapters.__path__):  # the rest imported after the settings are known
    importlib.import_module(f"fenxiao.adapters.{m.name}")

def models(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from models(sub)

print(json.dumps({
    "before": before,
    "tables": sorted({(c.__qualname__, c.Meta.table_name, c.Meta.region) for c in models(Model)
                      if c.__module__.startswith("fenxiao.adapters.")}),
    "names": names,
}))
"""


def test_every_table_model_is_bound_whenever_its_module_is_imported() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _CHECK],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert "fenxiao.adapters.shops" in found["before"] and "fenxiao.adapters.orders" not in found["before"]
    bound = {name: (table, region) for name, table, region in found["tables"]}
    names = found["names"]
    assert all(region == "eu-west-1" for _, region in bound.values())
    assert {table for table, _ in bound.values()} == set(names.values())  # none left "unbound"
    assert bound["ShopModel"][0] == names["shops_table"]
    assert bound["WechatTokenModel"][0] == names["shops_table"]
    assert bound["JobLeaseModel"][0] == names["config_table"]
    assert bound["PaymentModel"][0] == names["orders_table"]  # a subclass, imported after the settings
    assert bound["SummaryShardModel"][0] == names["ledger_table"]
    assert bound["PayoutBillModel"][0] == names["withdrawals_table"]
    assert bound["BoardArchiveModel"][0] == names["leaderboard_table"]
    assert bound["BindingModel"][0] == names["members_table"]
    assert bound["NotificationModel"][0] == names["notifications_table"]
