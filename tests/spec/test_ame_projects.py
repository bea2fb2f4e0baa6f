"""Projects written for AME load in amed: every key AME's format defines is read, and what
amed does not act on is one located warning, never an error.

The projects under fixtures/ame are written the way AME's own test projects and docs write
them (its executors, `models:` and `data_sets:` left empty, both forms of a secret, env,
triggers, resources, templates); the table gives each one's warnings, exactly.
"""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest

from spec import EnvVar, Project, Secret, Triggers, json_schema, load_project, load_text
from spec.yaml_loader import read_located
from tests.spec.helpers import FIXTURES, spec_error

AME_PROJECTS = FIXTURES / "ame"
PYTHON_VERSION_IGNORED = (
    "tasks[0].executor: amed ignores 'pythonVersion' for !custom: the command runs as it is"
)
MLFLOW_IGNORED = "amed ignores the !mlflow executor: it cannot run MLflow projects"
RESOURCES_IGNORED = "amed ignores 'resources': its tasks run with what the machine has"
ARTIFACTS_IGNORED = "amed ignores 'artifactCfg': it stores data sets, not a run's artifacts"

WARNINGS: dict[str, list[str]] = {
    # project: its warnings, "line:column: text" after the file name
    "custom": [f"10:6: warning: {PYTHON_VERSION_IGNORED}"],
    "pip": [],
    "poetry": [],
    "pipenv": [
        f"9:5: warning: tasks[0]: {RESOURCES_IGNORED}",
        f"16:5: warning: tasks[1]: {RESOURCES_IGNORED}",
    ],
    "mlflow": [
        f"6:5: warning: templates[0]: {MLFLOW_IGNORED}",
        f"10:4: warning: tasks[0]: {MLFLOW_IGNORED}",
        f"15:4: warning: tasks[1]: {RESOURCES_IGNORED}",
        "20:6: warning: tasks[2].fromTemplate: amed ignores a template of another project"
        " ('shared-templates'): it reads one project, so the task has only its own fields",
        f"22:4: warning: tasks[2]: {RESOURCES_IGNORED}",
    ],
    "everything": [
        "3:1: warning: amed ignores 'enableTriggers': it runs every task's triggers",
        "4:1: warning: amed ignores 'models': AME trains and deploys models, amed keeps data sets",
        "42:7: warning: dataSets[1].task: amed ignores 'triggers' on a data set's task: a data"
        " set is produced when it is missing or out of date",
        f"44:7: warning: dataSets[1].task: {ARTIFACTS_IGNORED}",
        f"50:5: warning: templates[0]: {RESOURCES_IGNORED}",
        "68:5: warning: tasks[1]: amed ignores 'taskRef' on a project task; it follows"
        " 'taskRef' only in a data set's task",
        f"83:5: warning: tasks[2]: {ARTIFACTS_IGNORED}",
    ],
}


def load_ame_project(name: str) -> Project:
    return load_project(AME_PROJECTS / name)


def test_every_ame_project_has_its_warnings_listed() -> None:
    assert sorted(path.name for path in AME_PROJECTS.iterdir()) == sorted(WARNINGS)


@pytest.mark.parametrize("name", sorted(WARNINGS))
def test_ame_project_loads_with_exactly_its_warnings(name: str) -> None:
    file = AME_PROJECTS / name / "ame.yaml"
    project = load_ame_project(name)
    assert list(project.warnings) == [f"{file}:{line}" for line in WARNINGS[name]]


@pytest.mark.parametrize("name", sorted(WARNINGS))
def test_ame_project_validates_against_the_json_schema(name: str) -> None:
    located = read_located((AME_PROJECTS / name / "ame.yaml").read_text(), positions=False)
    assert located is not None
    schema = json_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    assert [error.message for error in validator.iter_errors(located.data)] == []


def test_empty_models_data_sets_and_templates_read_as_nothing() -> None:
    project = load_ame_project("pip")
    assert (project.name, [task.name for task in project.tasks], project.data_sets) == (
        "piptest",
        ["training"],
        (),
    )


def test_both_secret_forms_and_both_env_forms_name_the_same_things() -> None:
    project = load_ame_project("pipenv")
    env_task, secret_task = project.tasks
    assert env_task.env == (EnvVar(key="VAR1", val="VAL1"), EnvVar(key="VAR2", val="VAL2"))
    assert secret_task.secrets == (
        Secret(key="mysecret", inject_as="VAR1"),
        Secret(key="blob_storage_key", inject_as="MY_BLOB_STORAGE_SECRET"),
    )
    assert secret_task.resources is not None
    assert (secret_task.resources.gpu, secret_task.resources.gpus) == (1, 1)


def test_mlflow_tasks_and_a_shared_template_leave_no_executor_for_amed() -> None:
    project = load_ame_project("mlflow")
    assert [(task.name, task.executor) for task in project.tasks] == [
        ("training", None),
        ("training-with-local-template", None),
        ("training-with-shared-template", None),
    ]


def test_custom_python_version_changes_nothing_amed_produces() -> None:
    with_version = load_ame_project("custom").data_sets[0]
    text = (AME_PROJECTS / "custom" / "ame.yaml").read_text()
    without = load_text(text.replace("     pythonVersion: 3.10\n", "")).data_sets[0]
    assert with_version.spec_hash == without.spec_hash


def test_everything_resolves_what_amed_acts_on() -> None:
    project = load_ame_project("everything")
    features = project.data_set("features")
    assert features is not None
    assert features.producer.env == (EnvVar(key="OMP_NUM_THREADS", val="4"),)
    assert features.producer.secrets == (
        Secret(key="blob_storage_key", inject_as="MY_BLOB_STORAGE_SECRET"),
    )
    train = project.task("train_my_model")
    assert train is not None
    assert train.triggers == Triggers(schedule="0 4 * * 1")
    assert [ref.name for ref in train.data_sets] == ["features", "raw"]
    other = project.task("other_task")
    assert other is not None and other.executor is None


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        (
            "name: p\nmodels:\n  - name: m\n    trainng: {task: {taskRef: t}}\n",
            "4:5: models[0]",
            "'trainng' is not a valid key for a model; did you mean 'training'?",
        ),
        (
            "name: p\ntasks:\n  - name: t\n    artifactCfg: {saveChangedFile: true}\n",
            "4:19: tasks[0].artifactCfg",
            "'saveChangedFile' is not a valid key for an artifactCfg; did you mean"
            " 'saveChangedFiles'?",
        ),
        (
            "name: p\ntasks:\n  - name: t\n    resources: {gpu: 1}\n",
            "4:17: tasks[0].resources",
            "'gpu' is not a valid key for resources; did you mean 'gpus'?",
        ),
        (
            "name: p\ntasks:\n  - name: t\n    secrets:\n      - ame: {key: k, injectAss: K}\n",
            "5:23: tasks[0].secrets[0].ame",
            "'injectAss' is not a valid key for an !ame secret; did you mean 'injectAs'?",
        ),
        (
            "name: p\nenableTrigers: true\n",
            "2:1:",
            "'enableTrigers' is not a valid key for the project; did you mean 'enableTriggers'?",
        ),
    ],
    ids=["in a model", "in artifactCfg", "in resources", "in an ame: secret", "at the top"],
)
def test_a_typo_in_a_part_amed_ignores_is_still_an_error(
    text: str, where: str, message: str
) -> None:
    error = spec_error(text)
    assert str(error).startswith(f"ame.yaml:{where}"), str(error)
    assert message in str(error)


def test_extended_resources_are_whole_numbers_named_by_a_domain() -> None:
    project = load_text("name: p\ntasks:\n  - name: t\n    resources: {example.com/fpga: 2}\n")
    resources = project.tasks[0].resources
    assert resources is not None and resources.model_extra == {"example.com/fpga": 2}
    error = spec_error("name: p\ntasks:\n  - name: t\n    resources: {example.com/fpga: 0.5}\n")
    assert str(error).startswith("ame.yaml:4:17: tasks[0].resources: 'example.com/fpga':")


def test_a_full_data_sets_under_the_key_ame_does_not_read_is_an_error_naming_data_sets() -> None:
    error = spec_error("name: p\ndata_sets:\n  - name: d\n")
    assert str(error) == (
        "ame.yaml:2:1: 'data_sets' is not read by AME (it reads 'dataSets'), so these data"
        " sets would be lost; did you mean 'dataSets'?"
    )


def test_secret_in_ame_form_with_a_stray_key_points_at_it() -> None:
    error = spec_error(
        "name: p\ntasks:\n  - name: t\n    secrets:\n      - ame: {key: k, injectAs: K}\n"
        "        vault: v\n"
    )
    assert str(error) == (
        "ame.yaml:6:9: tasks[0].secrets[0]: 'vault' is not valid next to 'ame'; put it inside 'ame'"
    )


def test_the_project_file_is_still_found_when_the_folder_is_given(tmp_path: Path) -> None:
    (tmp_path / "ame.yml").write_text("name: p\nmodels:\n")
    assert load_project(tmp_path).name == "p"
