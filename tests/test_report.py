"""digits-report: runs ranked on validation accuracy, test accuracy shown as the outcome."""

import json

import pytest

from digits import report
from digits.evaluation import plots
from digits.evaluation import sweep_report

# (overrides, metrics or None for a failed run). Ranked by test accuracy the order would be
# 0, 3, 1: every assertion on the order below breaks if the report chooses on the test set.
RUNS = [
    (["trainer.learning_rate=0.1", "seed=1"], {"val_accuracy": 0.95, "test_accuracy": 0.99}),
    (["trainer.learning_rate=0.01", "seed=1"], {"val_accuracy": 0.99, "test_accuracy": 0.96}),
    (["trainer.learning_rate=1.0", "seed=1"], None),
    # An older run folder: only the best epoch's validation accuracy.
    (["trainer.learning_rate=0.001", "seed=1"], {"best_val_accuracy": 0.97,
                                                 "test_accuracy": 0.97}),
]


@pytest.fixture
def sweep(tmp_path):
    for index, (overrides, metrics) in enumerate(RUNS):
        job = tmp_path / "sweep" / str(index)
        (job / ".hydra").mkdir(parents=True)
        (job / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
        if metrics is not None:
            (job / "metrics.json").write_text(json.dumps({**metrics, "epochs": 2,
                                                          "train_seconds": 3.5}))
    return tmp_path / "sweep"


def test_runs_are_ranked_by_validation_accuracy_never_by_test_accuracy(sweep):
    rows = sweep_report.ranked(sweep_report.collect(sweep))
    assert [row["run"] for row in rows] == ["1", "3", "0", "2"]
    assert [row["val_accuracy"] for row in rows] == [0.99, 0.97, 0.95, None]
    assert [row["test_accuracy"] for row in rows] == [0.96, 0.97, 0.99, None]


def test_the_report_names_the_best_run_by_validation_and_shows_its_test_accuracy(sweep, capsys):
    assert report.main([str(sweep)]) == 0
    out = capsys.readouterr().out
    assert (f"best run by validation accuracy: {sweep / '1'} (validation accuracy 0.9900, "
            "test accuracy 0.9600)") in out
    table = (sweep / "report.md").read_text().splitlines()
    assert table[0] == ("| run | trainer.learning_rate | val_accuracy | test_accuracy | "
                        "inverted_test_accuracy | epochs | train_seconds | status |")
    assert [line.split(" | ")[0] for line in table[2:]] == ["| 1", "| 3", "| 0", "| 2"]
    assert table[2].split(" | ")[2:4] == ["0.9900", "0.9600"]
    assert table[-1].endswith("| failed or unfinished |")
    assert "failed or unfinished: 2" in out


def test_the_plot_shows_validation_accuracy(sweep, tmp_path, monkeypatch):
    drawn = []
    monkeypatch.setattr(plots, "save", lambda figure, path: drawn.append(figure))
    rows = sweep_report.ranked(sweep_report.collect(sweep))
    sweep_report.plot(rows, sweep_report.swept_keys(rows), tmp_path / "plot.png")
    (axis,) = drawn[0].axes
    assert axis.get_ylabel() == "validation accuracy"
    points = axis.collections[0].get_offsets()
    assert sorted(points[:, 1].tolist()) == [0.95, 0.97, 0.99]
    assert sorted(zip(points[:, 0].tolist(), points[:, 1].tolist())) == [
        (0.001, 0.97), (0.01, 0.99), (0.1, 0.95)]


def test_an_empty_folder_is_a_one_line_error_with_exit_2(tmp_path, capsys):
    assert report.main([str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"digits-report: no runs in {tmp_path} ")
    assert len(captured.err.strip().splitlines()) == 1
    assert not (tmp_path / "report.md").exists()
    assert report.main([str(tmp_path / "absent")]) == 2
    assert "is not a folder" in capsys.readouterr().err


@pytest.mark.parametrize("option", ["--csv", "--plot"])
def test_existing_csv_or_plot_files_are_refused_unless_overwrite(sweep, tmp_path, capsys,
                                                                   option):
    output = tmp_path / "mine.out"
    output.write_text("the user's own\n")
    assert report.main([str(sweep), option, str(output)]) == 2
    assert capsys.readouterr().err.strip() == (f"digits-report: {option} {output} already "
                                               "exists; add --overwrite to replace it")
    assert output.read_text() == "the user's own\n"
    assert report.main([str(sweep), option, str(output), "--overwrite"]) == 0
    assert output.read_bytes() != b"the user's own\n"
    if option == "--csv":
        lines = output.read_text().splitlines()
        assert lines[0].startswith("run,trainer.learning_rate,val_accuracy,test_accuracy")
        assert [line.split(",")[0] for line in lines[1:]] == ["1", "3", "0", "2"]


def test_report_md_is_the_reports_own_file_and_is_rewritten(sweep, capsys):
    (sweep / "report.md").write_text("an older report\n")
    assert report.main([str(sweep)]) == 0
    assert (sweep / "report.md").read_text().startswith("| run |")
