"""``gallery.html``: a sweep on one page, one card per job (its GIF or contact sheet, the swept settings, the
metrics, a link to its ``report.html``), failed jobs with their error, sortable by any metric or setting with a
click (a few lines of inline JavaScript; nothing is fetched). Written with ``summary.md`` (render/output/sweep.py)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from render.output.pages import badge, esc, href, number, page, write_page
from render.output.report import REPORT_NAME
from render.output.sweep_jobs import JobRun, job_order, metric_value, setting_text

GALLERY_NAME = "gallery.html"
HIGHER_IS_BETTER = frozenset({"clip_similarity"})  # the first click sorts these highest first, others lowest first

SORT_SCRIPT = """
const cards = document.getElementById('cards');
let current = null, descending = false;
function key(card, k) { const v = card.dataset['k' + k]; return v === undefined || v === '' ? null : v; }
function compare(a, b, k) {
  const x = key(a, k), y = key(b, k);
  if (x === null || y === null) return (x === null) - (y === null);  // missing values last, either way
  const nx = Number(x), ny = Number(y);
  const c = !isNaN(nx) && !isNaN(ny) ? nx - ny : x.localeCompare(y, undefined, {numeric: true});
  return descending ? -c : c;
}
document.querySelectorAll('button[data-sort]').forEach(button => button.addEventListener('click', () => {
  const k = button.dataset.sort;
  descending = current === k ? !descending : button.dataset.first === 'desc';
  current = k;
  const sorted = Array.from(cards.children).sort((a, b) => compare(a, b, k) || a.dataset.order - b.dataset.order);
  sorted.forEach(card => cards.appendChild(card));
  document.querySelectorAll('button[data-sort]').forEach(other => {
    other.setAttribute('aria-pressed', String(other === button));
    other.querySelector('.dir').textContent = other === button ? (descending ? ' ▼' : ' ▲') : '';
  });
}));
"""

GALLERY_STYLE = """<style>
#cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr)); gap: 1rem; margin-top: 1rem; }
.card img { width: 100%; image-rendering: auto; } .card h3 { margin: 0 0 .4rem; font-size: 1rem; }
.card table { margin-top: .5rem; font-size: 13px; } .sorts { display: flex; flex-wrap: wrap; gap: .4rem; }
</style>"""


def sort_keys(varied: Sequence[str], metrics: Sequence[str]) -> list[tuple[str, str]]:
    """(label, first direction) of every key the cards can be sorted by."""
    return ([("rank", "asc"), ("job", "asc")] + [(m, "desc" if m in HIGHER_IS_BETTER else "asc") for m in metrics]
            + [(s, "asc") for s in varied] + [("frames", "desc"), ("seconds", "asc")])


def card_values(rank: int | None, job: JobRun, varied: Sequence[str], metrics: Sequence[str]) -> list[str]:
    """The card's value for each of :func:`sort_keys`, as text ('' when missing)."""
    values = ["" if rank is None else str(rank), job.name]
    values += ["" if (v := metric_value(job, m)) is None or not job.completed else repr(v) for m in metrics]
    values += [setting_text(job, s) for s in varied]
    return values + [str(job.frames), "" if job.seconds is None else f"{job.seconds:.3f}"]


def preview_image(job: JobRun) -> Path | None:
    """The job's GIF, else its contact sheet, else its last frame on disk."""
    batch = str(job.settings.get("batch_name") or "TimeToDisco")
    for candidate in (job.path / f"{batch}.gif", job.path / f"{batch}_contact.png"):
        if candidate.is_file():
            return candidate
    frames = sorted((job.path / "frames").glob("*.png")) if (job.path / "frames").is_dir() else []
    return frames[-1] if frames else None


def job_card(sweep_dir: Path, order: int, rank: int | None, job: JobRun, varied: Sequence[str],
             metrics: Sequence[str]) -> str:
    values = card_values(rank, job, varied, metrics)
    data = " ".join(f'data-k{i}="{esc(v)}"' for i, v in enumerate(values))
    report = job.path / REPORT_NAME
    link = href(report if report.is_file() else job.path, sweep_dir)
    image = preview_image(job)
    picture = (f'<a href="{link}"><img src="{href(image, sweep_dir)}" alt="job {esc(job.name)}"></a>'
               if image is not None else '<p class="note">no frames</p>')
    settings = "".join(f"<tr><th><code>{esc(s)}</code></th><td><code>{esc(setting_text(job, s))}</code></td></tr>"
                       for s in varied)
    scores = "".join(f'<tr><th>{esc(m)}</th><td class="num">{esc(number(metric_value(job, m)))}</td></tr>'
                     for m in metrics if job.completed and metric_value(job, m) is not None)
    seconds = f", {job.seconds:.1f} s" if job.seconds is not None else ""
    error = f'<p class="error">{esc(job.status)}</p>' if not job.completed else ""
    links = [f'<a href="{link}">{"report" if report.is_file() else "folder"}</a>']
    if job.video is not None and job.video.is_file():
        links.append(f'<a href="{href(job.video, sweep_dir)}">{esc(job.video.name)}</a>')
    return (f'<article class="card panel" data-order="{order}" data-job="{esc(job.name)}" {data}>'
            f'<h3>{"#" + str(rank) + " · " if rank is not None else ""}job {esc(job.name)} {badge(job.status)}</h3>'
            f'{picture}{error}<table>{settings}{scores}</table>'
            f'<p class="note">{job.frames} frames{seconds} · {" · ".join(links)}</p></article>')


def gallery_html(sweep_dir: Path, ranked: Sequence[tuple[int | None, JobRun]], varied: Sequence[str],
                 metrics: Sequence[str], ranking: str) -> str:
    jobs = [job for _, job in ranked]
    done = sum(job.completed for job in jobs)
    order = {job.name: i for i, job in enumerate(sorted(jobs, key=lambda j: job_order(j.path)))}
    values = [card_values(rank, job, varied, metrics) for rank, job in ranked]
    buttons = "".join(f'<button type="button" data-sort="{i}" data-first="{first}" aria-pressed="false">'
                      f'{esc(label)}<span class="dir"></span></button>'
                      for i, (label, first) in enumerate(sort_keys(varied, metrics))
                      if any(v[i] for v in values))  # not a metric no job has
    cards = "".join(job_card(sweep_dir, order[job.name], rank, job, varied, metrics) for rank, job in ranked)
    failed = len(jobs) - done
    body = (f"{GALLERY_STYLE}<h1>Sweep {esc(sweep_dir.name)}</h1>"
            f'<p class="note"><code>{esc(sweep_dir)}</code> · {len(jobs)} job{"s" if len(jobs) != 1 else ""}, '
            f'{done} completed{f", {failed} failed or unfinished" if failed else ""} · ranked by {esc(ranking)} · '
            f'<a href="summary.md">summary.md</a> · <a href="summary.csv">summary.csv</a></p>'
            f'<div class="sorts"><span class="note">sort by:</span>{buttons}</div>'
            f'<div id="cards">{cards}</div>')
    return page(f"Sweep {sweep_dir.name}", body, script=SORT_SCRIPT)


def write_gallery(sweep_dir: Path, ranked: Sequence[tuple[int | None, JobRun]], varied: Sequence[str],
                  metrics: Sequence[str], ranking: str) -> Path:
    """``gallery.html`` in the sweep directory, the cards in ranking order."""
    return write_page(Path(sweep_dir) / GALLERY_NAME, gallery_html(Path(sweep_dir), ranked, varied, metrics, ranking))
