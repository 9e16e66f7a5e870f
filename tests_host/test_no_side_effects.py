"""Loading the plugin leaves the process environment alone (issue 21, item 4).

A pytest11 plugin loads in every pytest run of the environment, so an unrelated suite
(say, a Keras 3 project in the same venv) must not find TF_USE_LEGACY_KERAS, TensorFlow's
thread settings or the harness's own variables in os.environ."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HARNESS_VARIABLES = ("TF_USE_LEGACY_KERAS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS",
                     "TF_ENABLE_ONEDNN_OPTS", "TF_CPP_MIN_LOG_LEVEL")
PYTESTS_OWN = {"PYTEST_CURRENT_TEST", "PYTEST_VERSION"}  # what pytest itself sets while a test runs

UNRELATED_TEST = '''
import json, os, sys

def test_something_else(pytestconfig):
    facts = {"environ": dict(os.environ),
             "plugin_loaded": pytestconfig.pluginmanager.has_plugin("tinyml_harness"),
             "plugin_file": sys.modules["tinyml_harness.plugin"].__file__,
             "model_builders_imported": "model_builders" in sys.modules}
    with open(os.environ["FACTS_FILE"], "w") as out:
        json.dump(facts, out)
'''


def test_an_unrelated_suite_sees_no_variable_of_the_harness(tmp_path):
    (tmp_path / "test_other.py").write_text(UNRELATED_TEST)
    env = {k: v for k, v in os.environ.items()
           if k not in HARNESS_VARIABLES and k not in PYTESTS_OWN and not k.startswith("TINYML_")}
    env.pop("PYTEST_ADDOPTS", None)
    env.update(PYTHONPATH=str(ROOT), FACTS_FILE=str(tmp_path / "facts.json"))
    # A fresh interpreter, not pytester: what is checked is the environment a process sees
    # after loading the plugin, and this one has imported TensorFlow and the harness already.
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_other.py"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    facts = json.loads((tmp_path / "facts.json").read_text())
    assert facts["plugin_loaded"] and Path(facts["plugin_file"]).is_relative_to(ROOT)
    assert facts["model_builders_imported"]  # the package that used to set them was imported
    seen = facts["environ"]
    added = {k: seen[k] for k in set(seen) - set(env) - PYTESTS_OWN}
    changed = {k: (env[k], seen[k]) for k in set(seen) & set(env) if seen[k] != env[k]}
    assert added == {} and changed == {}
