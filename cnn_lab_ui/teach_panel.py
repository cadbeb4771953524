"""The Draw page's "Teach it": keep drawings with their true digit, look through and delete them, teach the
chosen model on them in a background job (live progress, like the Train page), then before and after.

The drawings are the learner's own: `cnn_core.teach.drawings_folder(runs folder, state.owner())`, so a
refresh (the owner's cookie) keeps them and no other learner sees them. The engine's rules and messages
(too few drawings of a digit, an empty canvas, a model that reads clothes) are cnn_core.teach's.

Widget keys: teach_label ("It is really a"), teach_keep ("Keep this drawing"), teach_delete_<drawing id>
(delete one), teach_start ("Teach the model"), teach_stop ("Stop"), teach_hide ("Hide these results").
Session state: state.TEACH_JOB_ID (the teach job shown; None: none or hidden), state.TEACH_MESSAGE (what
Keep did, shown once).
"""

from __future__ import annotations

import streamlit as st

from cnn_core import runs, teach, training
from cnn_core.errors import UserError

from . import drawing, jobs, runs_table, state

DIGITS = list(range(10))
THUMB = 56  # px: a kept 28x28 drawing, shown at 2x


def drawing_set() -> teach.DrawingSet:
    """This learner's drawings."""
    return teach.DrawingSet(teach.drawings_folder(runs.runs_root(), state.owner()))


def model_name(choice: str) -> str:
    """The Draw page's model choice as submit_teach names it (a run name, or the shipped default)."""
    return teach.DEFAULT_MODEL if choice == state.DEFAULT else choice


# --- keeping a drawing (in the Draw page's canvas fragment) ------------------------------------

def keep_control() -> None:
    """"It is really a [digit]" and "Keep this drawing". Called *before* the canvas is drawn, so keeping can
    empty the canvas for the next drawing; the whole page then reruns (the gallery below shows it)."""
    if message := state.TEACH_MESSAGE.pop():
        # A toast: the canvas reloads empty right after, and that run would already remove an st.success.
        st.toast(message, icon=":material/bookmark_added:")
    c1, c2 = st.columns([1, 1], vertical_alignment="bottom")
    label = c1.selectbox("It is really a", DIGITS, index=None, placeholder="Choose the digit", key="teach_label",
                         help="The digit you meant, whatever the model read: the drawing is kept with it.")
    if c2.button("Keep this drawing", key="teach_keep", help="Keep it in your drawings, to teach the model below."):
        if label is None:
            st.warning("Choose the digit you drew in **It is really a** first.")
            return
        try:
            kept = drawing_set().add(_canvas_now(), label)
        except UserError as e:  # an empty canvas, a damaged canvas value, a full disk
            st.warning(str(e))
            return
        n = drawing_set().counts()[kept.label]
        state.TEACH_MESSAGE.set(f"Kept as a {kept.label}: you have {n} drawing{'s' if n != 1 else ''} of {kept.label}.")
        drawing.clear()  # ready for the next one
        st.rerun(scope="app")


def _canvas_now():
    """The canvas image as the component last sent it (None: nothing drawn), read like the prediction's."""
    from streamlit_drawable_canvas import CanvasResult

    value = st.session_state.get(drawing.CANVAS_KEY) or {}
    url = (value.get("drawing") or {}).get("data")
    rgba = drawing.canvas_rgba(CanvasResult(json_data=None, image_data_url=url, return_image_data=True))
    if rgba is None:
        raise teach.TeachError("The canvas is empty: draw the digit, then keep it")
    return rgba


# --- the panel under the canvas -------------------------------------------------------------------

def show(choice: str) -> None:
    """My drawings, Teach the model (for `choice`, the Draw page's model), its progress and its results."""
    st.header("Teach it your handwriting")
    st.caption("When the model reads your digit wrong (or any time), choose what it really is under the canvas and "
               "**Keep this drawing**. Then teach the model: it is fine-tuned on copies of your drawings mixed with "
               "MNIST digits, so it learns your handwriting without forgetting the others. The result is a new run; "
               "the model you taught is not changed.")
    drawings = drawing_set()
    gallery(drawings)
    job = current_job()
    busy = job is not None and not job.done
    problem = too_few(drawings.counts())
    if problem:
        st.info(problem)
    if st.button("Teach the model", key="teach_start", type="primary", disabled=bool(problem) or busy,
                 help="Wait for the current teaching, or stop it." if busy else
                 f"Fine-tune {runs_table.parent_label(model_name(choice))} on your drawings, in the background."):
        start(choice, drawings)
    if job is not None:
        show_job(job)


def too_few(counts: dict[int, int]) -> str | None:
    """Why teaching cannot start yet (said before anything starts), or None."""
    if not sum(counts.values()):
        return (f"Keep at least {teach.MIN_PER_CLASS} drawings of each digit you want to teach, then teach the model.")
    short = [f"{n} of {d}" for d, n in sorted(counts.items()) if 0 < n < teach.MIN_PER_CLASS]
    if short:
        return (f"Only {', '.join(short)}: teaching needs at least {teach.MIN_PER_CLASS} drawings of each digit it "
                "learns. Draw more, or delete those.")
    return None


def gallery(drawings: teach.DrawingSet) -> None:
    """The learner's drawings (the 28x28s the model saw), grouped by digit, each with its Delete."""
    kept = drawings.list()
    st.subheader(f"My drawings ({len(kept)})")
    if not kept:
        st.caption("None yet.")
        return
    for digit in DIGITS:
        mine = [d for d in kept if d.label == digit]
        if not mine:
            continue
        st.markdown(f"**{digit}** · {len(mine)} drawing{'s' if len(mine) != 1 else ''}")
        with st.container(horizontal=True, gap="small"):
            for d in mine:
                with st.container(width=THUMB + 8, gap=None):
                    st.image(str(d.seen), width=THUMB)
                    st.button("", key=f"teach_delete_{d.id}", icon=":material/delete:", type="tertiary",
                              help=f"Delete this drawing of a {digit}", on_click=_delete, args=(d.id,))


def _delete(drawing_id: str) -> None:
    try:
        drawing_set().delete(drawing_id)
    except UserError as e:  # deleted meanwhile (another tab of this learner)
        state.TEACH_MESSAGE.set(str(e))


# --- the teach job --------------------------------------------------------------------------------

def current_job():
    """The teach job this session shows (None: none, or hidden). A new session (a refresh: the same learner's
    cookie) looks once for the learner's teach job still running, else their latest one (it may have ended
    while the page reloaded)."""
    manager, me = state.job_manager(), state.owner()
    if not state.TEACH_JOB_ID.is_set():
        mine = [j for j in manager.jobs(owner=me) if j.origin.kind == runs.TAUGHT]
        latest = ([j for j in mine if not j.done] or mine or [None])[-1]
        state.TEACH_JOB_ID.set(latest.id if latest else None)
    job_id = state.TEACH_JOB_ID.get()
    job = manager.get(job_id) if job_id else None
    return job if job is not None and job.owner == me else None


def start(choice: str, drawings: teach.DrawingSet) -> None:
    try:
        lesson = teach.read_folder(drawings.folder)  # the drawings as the job gets them, checked again
        job = state.job_manager().submit_teach(model_name(choice), lesson, owner=state.owner())
    except UserError as e:  # too few of a digit, a model that reads clothes, a class limit, no disk space
        st.error(f"Cannot teach: {e}")
        return
    state.TEACH_JOB_ID.set(job.id)
    st.rerun()  # the button is disabled while it runs


def show_job(job) -> None:
    snap = job.snapshot()
    if not snap.done:
        st.fragment(_progress, run_every=0.5)(job.id)
        return
    result(job, snap)
    if st.button("Hide these results", key="teach_hide"):
        state.TEACH_JOB_ID.set(None)  # hidden for this session (None: not looked up again)
        st.rerun()


def _progress(job_id: str) -> None:
    """Polled: the job's progress and per-batch curves; the whole page reruns once it has ended."""
    job = state.job_manager().get(job_id)
    if job is None:  # forgotten by the server (see executor.KEEP_FINISHED_PER_OWNER): the page shows what is left
        st.rerun(scope="app")
    snap = job.snapshot()
    if snap.done:
        st.rerun(scope="app")
    if st.button("Stop", key="teach_stop", disabled=snap.state == training.STOPPING,
                 help="Stop after the current batch; the partly taught model is tested and saved."):
        job.request_stop()
        snap = job.snapshot()
    st.progress(*jobs.progress(snap, jobs.test_size_for(snap)))
    jobs.batch_charts(snap)


def result(job, snap) -> None:
    """Before and after, side by side; the taught run becomes the Draw page's model (once)."""
    if snap.state == training.FAILED:
        st.error(f"Teaching failed: {snap.error}")
        return
    if not snap.run_name:
        st.warning(snap.error or "The teaching ended before it started.")
        return
    try:
        report = teach.read_report(runs.run_path(snap.run_name))
    except UserError as e:  # deleted or damaged since
        st.error(f"Cannot read what the teaching did: {e}")
        return
    if state.CHOSEN_FOR_JOB.get() != job.id:
        jobs.choose_once(job.id, snap.run_name)  # draw with the taught model next
        st.rerun()  # the model selector above shows it
    st.success(f"Teaching {jobs.outcome(snap)}. Saved as run **{snap.run_name}**; the Draw page now reads "
               "with it (the model at the top: switch back any time).")
    before_after(report)
    drawings_now(report)


def before_after(report: teach.TeachReport) -> None:
    before, after = st.columns(2, border=True)
    before.markdown(f"**Before**: {runs_table.parent_label(report.parent)}")
    after.markdown("**After**: taught your drawings")
    n = len(report.drawings)
    for col, on_drawings, on_mnist, reference in (
            (before, report.drawings_before, report.mnist_before, None),
            (after, report.drawings_after, report.mnist_after, (report.drawings_before, report.mnist_before))):
        m1, m2 = col.columns(2)
        m1.metric("Your drawings", f"{on_drawings:.1%}", help=f"of your {n} drawings read right",
                  delta=None if reference is None else f"{(on_drawings - reference[0]) * 100:+.1f} points")
        m2.metric("MNIST test digits", f"{on_mnist:.2%}", help=report.mnist_source or None,
                  delta=None if reference is None else f"{(on_mnist - reference[1]) * 100:+.2f} points")


def drawings_now(report: teach.TeachReport) -> None:
    """Which drawings it now reads right (and any it no longer does), as the model saw them."""
    seen = {f"{d.label}/{d.canvas_path.name}": d.seen for d in drawing_set().list()}
    groups = (("Now read right", [r for r in report.drawings if r.fixed]),
              ("Still read wrong", [r for r in report.drawings if r.after != r.label and r.before != r.label]),
              ("Read right before, wrong now", [r for r in report.drawings if r.before == r.label != r.after]))
    right = sum(r.before == r.label == r.after for r in report.drawings)
    st.caption(f"{right} of your drawings were read right before and after.")
    for title, rows in groups:
        if not rows:
            continue
        st.markdown(f"**{title}** ({len(rows)})")
        shown = [r for r in rows if r.name in seen]  # a drawing deleted since is only counted
        if shown:
            st.image([str(seen[r.name]) for r in shown], width=THUMB,
                     caption=[f"{r.label}: read {r.before} → {r.after}" for r in shown])
