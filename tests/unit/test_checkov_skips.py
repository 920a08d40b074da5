"""checkov's skips live on the resources they concern, each with a one-line reason, never globally.

`make check-template` runs checkov itself (zero failed checks); this only reads template.yaml.
"""

import re
from pathlib import Path
from typing import Any

from cfnlint.decode import cfn_yaml

ROOT = Path(__file__).resolve().parents[2]
RESOURCES: dict[str, Any] = cfn_yaml.loads((ROOT / "template.yaml").read_text())["Resources"]
SKIPS = {
    logical_id: resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    for logical_id, resource in RESOURCES.items()
}


def test_every_skip_names_a_check_and_gives_a_one_line_reason():
    skips = [(logical_id, skip) for logical_id, listed in SKIPS.items() for skip in listed]
    assert len(skips) >= 30  # 4 per function but StartRun's 2, and the buckets', logs', Glue's and the queue's
    for logical_id, skip in skips:
        assert set(skip) == {"id", "comment"}, logical_id
        assert re.fullmatch(r"CKV2?_AWS_\d+", skip["id"]), (logical_id, skip["id"])
        comment = skip["comment"]
        assert isinstance(comment, str) and "\n" not in comment and 20 <= len(comment) <= 100, (logical_id, comment)


def test_no_check_is_skipped_twice_on_one_resource():
    for logical_id, listed in SKIPS.items():
        ids = [skip["id"] for skip in listed]
        assert len(ids) == len(set(ids)), logical_id


def test_the_run_starter_meets_the_concurrency_and_dead_letter_checks_instead_of_skipping_them():
    skipped = {skip["id"] for skip in SKIPS["StartRunFunction"]}
    assert skipped.isdisjoint({"CKV_AWS_115", "CKV_AWS_116"})
    properties = RESOURCES["StartRunFunction"]["Properties"]
    assert properties["ReservedConcurrentExecutions"] == 1 and "DeadLetterQueue" in properties


def test_checkov_runs_on_the_template_without_global_skips():
    makefile = (ROOT / "Makefile").read_text()
    (command,) = [line.strip() for line in makefile.splitlines() if "$(CHECKOV)" in line and "-f template.yaml" in line]
    assert "--skip-check" not in command and "--soft-fail" not in command
    assert not (ROOT / ".checkov.yaml").exists() and not (ROOT / ".checkov.yml").exists()
