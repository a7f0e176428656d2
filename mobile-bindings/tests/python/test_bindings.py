#!/usr/bin/env python3
"""The acceptance test of the mobile bindings: a warden's and a supervisor's
phone, through the generated Python bindings only, against a real server:
recording offline, sync, a supervisor's edit coming back, a case taken from
registering to closing with the warden verifying it, KPIs, a supervisor's
review of the warden's patrols, errors, the server down, cancellation.

Run by `cargo test --workspace` (tests/tests/e2e/mobile.rs), which starts the
server, adds the users, builds the library and the bindings, and passes:

  GRIDWARDEN_BINDINGS          directory with gridwarden_mobile.py and the library
  GRIDWARDEN_WARDEN_CODE       one-time enrolment code of the warden
  GRIDWARDEN_SUPERVISOR_CODE   one-time enrolment code of the supervisor
  GRIDWARDEN_CELL              a grid cell of the warden ...
  GRIDWARDEN_CELL_LON/_LAT     ... and a point inside it
  GRIDWARDEN_DEPARTMENT        the department category 0101 is routed to

The harness also stops the server when asked: this script prints
`gridwarden-test: stop-server` on stdout and waits for `stopped` on stdin.
unittest reports on stderr. Standard library only.
"""

import asyncio
import os
import sqlite3
import sys
import tempfile
import threading
import time
import unittest
import uuid


def env(name):
    value = os.environ.get(name)
    if not value:
        sys.exit(
            f"{name} is not set: this script is run by "
            "`cargo test -p gridwarden-e2e --test e2e mobile`"
        )
    return value


sys.path.insert(0, env("GRIDWARDEN_BINDINGS"))
import gridwarden_mobile as gw  # noqa: E402  (the path is only known at run time)

CELL = env("GRIDWARDEN_CELL")
CELL_LON = float(env("GRIDWARDEN_CELL_LON"))
CELL_LAT = float(env("GRIDWARDEN_CELL_LAT"))
DEPARTMENT = env("GRIDWARDEN_DEPARTMENT")

DAY_MS = 86_400_000

# A short handshake wait: a stopped server is noticed by timeout (QUIC
# ignores ICMP), and the offline tests wait for it.
CONNECT_TIMEOUT_MS = 2000

# Smallest thing the photo store takes for a JPEG: its magic bytes.
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 8 + b"\xff\xd9"

GPX = """<?xml version="1.0"?>
<gpx version="1.1" creator="another app" xmlns="http://www.topografix.com/GPX/1/1">
  <trk><name>evening round</name><trkseg>
    <trkpt lat="%(lat)f" lon="%(lon)f"><time>2026-11-20T17:00:00Z</time></trkpt>
    <trkpt lat="%(lat)f" lon="%(lon2)f"><time>2026-11-20T17:05:00Z</time></trkpt>
    <trkpt lat="%(lat)f" lon="%(lon3)f"><time>2026-11-20T17:10:00Z</time></trkpt>
  </trkseg></trk>
</gpx>
""" % {"lat": CELL_LAT, "lon": CELL_LON, "lon2": CELL_LON + 0.001, "lon3": CELL_LON + 0.002}
GPX = GPX.encode()


def stop_server():
    """Asks the harness to stop the server; returns once it is down."""
    print("gridwarden-test: stop-server", flush=True)
    answer = sys.stdin.readline().strip()
    if answer != "stopped":
        raise RuntimeError(f"the harness answered {answer!r} to stop-server")


def open_client(home):
    return gw.GridwardenClient.open_with_options(
        home, gw.ClientOptions(connect_timeout_ms=CONNECT_TIMEOUT_MS)
    )


def here(note=""):
    """A report at the point in the warden's cell."""
    return gw.NewReport(
        category=Phones.category,
        location=gw.GeoPoint(lon=CELL_LON, lat=CELL_LAT, accuracy_m=5.0),
        note=note,
    )


class Progress(gw.SyncListener):
    """A SyncListener that keeps what it hears and can signal the first
    event of a kind to another thread."""

    def __init__(self, wake_on=None):
        self.events = []
        self.lock = threading.Lock()
        self.wake_on = wake_on
        self.woken = threading.Event()

    def on_progress(self, progress):
        with self.lock:
            self.events.append(progress)
        if self.wake_on is not None and self.wake_on(progress):
            self.woken.set()

    def kinds(self):
        with self.lock:
            # Variant classes are named like `SyncProgress.WAITING`.
            return [type(e).__name__.split(".")[-1] for e in self.events]


class Phones(unittest.TestCase):
    """Two enrolled phones, shared by the tests, which run in name order
    (the later ones stop the server; test_09 and test_10 must stay last)."""

    category = None

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="gridwarden-phones-")
        cls.root = cls.tmp.name
        cls.warden = open_client(os.path.join(cls.root, "warden"))
        cls.supervisor = open_client(os.path.join(cls.root, "supervisor"))
        # One enrolment blocking (a worker thread's way), one async.
        cls.warden_info = cls.warden.enroll_blocking(
            env("GRIDWARDEN_WARDEN_CODE"), "warden's phone"
        )
        cls.supervisor_info = asyncio.run(
            cls.supervisor.enroll(env("GRIDWARDEN_SUPERVISOR_CODE"), "supervisor's phone")
        )
        codes = [c.code for c in cls.warden.categories()]
        # 0101 is routed to DEPARTMENT: the case test dispatches to it.
        assert "0101" in codes, codes
        Phones.category = "0101"

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def assertRejected(self, call, *reason_parts):
        with self.assertRaises(gw.GridwardenError.Rejected) as caught:
            call()
        for part in reason_parts:
            self.assertIn(part, str(caught.exception))
        return caught.exception

    def test_01_enrolment_caches_what_recording_offline_needs(self):
        self.assertEqual(self.warden_info.role, "warden")
        self.assertEqual(self.supervisor_info.role, "supervisor")
        status = self.warden.status()
        self.assertTrue(status.enrolled)
        self.assertIsNotNone(status.grid_version)
        self.assertGreater(len(self.warden.categories()), 10)
        # The grid cell the phone is in, from the layer cached on the phone.
        self.assertEqual(self.warden.grid_cell_at(CELL_LON, CELL_LAT), CELL)
        self.assertIsNone(self.warden.grid_cell_at(2.35, 48.85), "Paris is in no cell")
        self.assertRejected(
            lambda: self.warden.enroll_blocking(env("GRIDWARDEN_WARDEN_CODE"), "again"),
            "already enrolled",
        )

    def test_02_bad_input_is_rejected_with_its_reason(self):
        nan = float("nan")
        bad_latitude = gw.NewReport(
            category=self.category, location=gw.GeoPoint(lon=CELL_LON, lat=nan)
        )
        self.assertRejected(lambda: self.warden.record_report(bad_latitude), "coordinates")
        too_far_north = gw.NewReport(
            category=self.category, location=gw.GeoPoint(lon=CELL_LON, lat=91.0)
        )
        self.assertRejected(lambda: self.warden.record_report(too_far_north), "latitude 91")
        unknown = gw.NewReport(
            category="9999", location=gw.GeoPoint(lon=CELL_LON, lat=CELL_LAT)
        )
        self.assertRejected(lambda: self.warden.record_report(unknown), "unknown category `9999`")
        not_a_photo = os.path.join(self.root, "notes.txt")
        with open(not_a_photo, "w") as f:
            f.write("not a photo")
        with_text = here()
        with_text.photo_paths = [not_a_photo]
        self.assertRejected(lambda: self.warden.record_report(with_text), "not a JPEG")
        self.assertRejected(lambda: self.warden.grid_cell_at(nan, CELL_LAT), "coordinates")
        self.assertRejected(lambda: self.warden.show_report("no-such-report"), "not a report id")
        self.assertRejected(lambda: self.warden.show_patrol("no-such-patrol"), "not a patrol id")
        self.assertRejected(
            lambda: self.warden.patrol_add_point(gw.GpsFix(lon=CELL_LON, lat=CELL_LAT)),
            "no patrol is under way",
        )
        both = gw.ReportChanges(address="Lake Road 1", clear_address=True)
        self.assertRejected(lambda: self.warden.edit_report("0" * 32, both), "not both")
        self.assertEqual(self.warden.list_reports(), [], "nothing refused was recorded")
        self.assertEqual(self.warden.status().outbox, 0)

    def test_03_a_device_that_is_not_enrolled_says_so(self):
        fresh = open_client(os.path.join(self.root, "fresh"))
        with self.assertRaises(gw.GridwardenError.NotEnrolled) as caught:
            fresh.record_report(here())
        self.assertIn("not enrolled", str(caught.exception))
        with self.assertRaises(gw.GridwardenError.NotEnrolled):
            fresh.sync_blocking(gw.SyncOptions(), None, None)
        self.assertFalse(fresh.status().enrolled)
        self.assertEqual(fresh.categories(), [])

    def test_03b_a_home_from_a_newer_app_asks_for_an_update(self):
        home = os.path.join(self.root, "newer")
        open_client(home)  # creates the home; dropped at once, closing it
        db = os.path.join(home, "client.db")
        with sqlite3.connect(db) as conn:
            conn.execute("PRAGMA user_version = 999")
        with self.assertRaises(gw.GridwardenError.UpdateRequired) as caught:
            open_client(home)
        self.assertIn("newer gridwarden", str(caught.exception))
        with sqlite3.connect(db) as conn:
            (version,) = conn.execute("PRAGMA user_version").fetchone()
        self.assertEqual(version, 999, "nothing was changed")

    def test_04_a_field_day_recorded_offline_reaches_the_supervisor_and_comes_back(self):
        warden, supervisor = self.warden, self.supervisor

        # Offline: recording never touches the network.
        photo = os.path.join(self.root, "cover.jpg")
        with open(photo, "wb") as f:
            f.write(JPEG)
        with_photo = here(note="井盖缺失 cover missing")
        with_photo.photo_paths = [photo]
        cover = warden.record_report(with_photo)
        patrol = warden.patrol_start("morning round")
        self.assertEqual(warden.running_patrol(), patrol)
        kept = [
            warden.patrol_add_point(
                gw.GpsFix(
                    lon=CELL_LON + i * 0.0003,
                    lat=CELL_LAT,
                    time_ms=1_763_800_000_000 + i * 30_000,
                    accuracy_m=4.0,
                )
            )
            for i in range(5)
        ]
        self.assertTrue(all(kept), "fixes 25 m apart are all kept")
        rubbish = warden.record_report(here(note="rubbish by the road"))
        self.assertEqual(warden.patrol_stop(), patrol)
        self.assertIsNone(warden.running_patrol())

        reports = {r.id: r for r in warden.list_reports()}
        self.assertEqual(set(reports), {cover, rubbish})
        self.assertTrue(all(r.status.is_pending() for r in reports.values()))
        self.assertEqual(reports[rubbish].patrol_id, patrol, "recorded during the patrol")
        self.assertEqual(reports[cover].local_cell, CELL)
        shown = warden.show_report(cover)
        self.assertEqual([p.size for p in shown.photos], [len(JPEG)])
        self.assertEqual(shown.photos[0].mime, "image/jpeg")
        [summary] = warden.list_patrols()
        self.assertEqual(summary.id, patrol)
        self.assertEqual(summary.points, 5)
        self.assertIn(rubbish, summary.report_ids)
        self.assertIn(CELL, summary.visited_cells)
        self.assertGreater(summary.distance_m, 50)
        track = warden.show_patrol(patrol)
        self.assertEqual([p.seq for p in track.points], list(range(5)))
        self.assertGreater(warden.status().outbox, 0)

        # The warden syncs from a worker thread, listening to progress.
        progress = Progress()
        pushed = warden.sync_blocking(gw.SyncOptions(), progress, None)
        self.assertGreaterEqual(pushed.pushed, 5, pushed)
        self.assertEqual(pushed.rejected, [])
        self.assertEqual(pushed.photos_uploaded, 1)
        self.assertEqual(pushed.pending, 0)
        kinds = progress.kinds()
        self.assertEqual(kinds[0], "CONNECTING", kinds)
        self.assertIn("TRANSFERRING", kinds)
        self.assertIn("PHOTO", kinds)
        for report in warden.list_reports():
            self.assertTrue(report.status.is_synced(), report)
            self.assertEqual(report.grid_cell, CELL, "the server placed it in its cell")
        status = warden.status()
        self.assertEqual(status.outbox, 0)
        self.assertEqual(status.cells, [CELL], "the warden's scope arrives with a sync")
        self.assertEqual(status.photos.budget, 256 * 1024 * 1024, "the default budget")
        self.assertEqual(status.photos.full_bytes, len(JPEG))
        self.assertEqual(warden.show_report(cover).photos[0].here, "full")

        # A budget of nothing: the server holds the photo, so its full file
        # goes (this JPEG is only magic bytes: no thumbnail can be made), and
        # comes back whole when asked for.
        storage = warden.set_photo_budget(0)
        self.assertEqual((storage.budget, storage.full_bytes), (0, 0), storage)
        dropped = warden.show_report(cover).photos[0]
        self.assertEqual((dropped.state, dropped.here), ("uploaded", "none"))
        self.assertIsNone(dropped.thumbnail)
        again = os.path.join(self.root, "again.jpg")
        self.assertEqual(warden.fetch_photo_blocking(dropped.hash, again), len(JPEG))
        with open(again, "rb") as f:
            self.assertEqual(f.read(), JPEG)
        self.assertEqual(warden.set_photo_budget(None).budget, None)
        [summary] = warden.list_patrols()
        self.assertEqual(summary.covered_cells, [CELL])
        self.assertEqual(summary.coverage, 1.0)

        # The supervisor's phone syncs on its event loop, reviews, fetches
        # the photo and corrects the note.
        pulled = asyncio.run(supervisor.sync(gw.SyncOptions(), Progress(), None))
        self.assertGreaterEqual(pulled.pulled, 2, pulled)
        seen = supervisor.show_report(cover)
        self.assertEqual(seen.reporter, self.warden_info.user)
        self.assertEqual(seen.photos[0].state, "remote")
        copy = os.path.join(self.root, "fetched.jpg")
        self.assertEqual(supervisor.fetch_photo_blocking(seen.photos[0].hash, copy), len(JPEG))
        with open(copy, "rb") as f:
            self.assertEqual(f.read(), JPEG)
        supervisor.edit_report(
            cover, gw.ReportChanges(note="cover missing; barrier placed", address="Lake Road 1")
        )
        edited = asyncio.run(supervisor.sync(gw.SyncOptions(), None, None))
        self.assertEqual(edited.pushed, 1, edited)

        # The supervisor's change comes back to the warden.
        back = warden.sync_blocking(gw.SyncOptions(), None, None)
        self.assertGreaterEqual(back.pulled, 1, back)
        mine = warden.show_report(cover)
        self.assertEqual(mine.note, "cover missing; barrier placed")
        self.assertEqual(mine.address, "Lake Road 1")
        self.assertTrue(mine.status.is_synced())
        # …and the warden is told her note and address were replaced.
        told = sorted((o.field, o.winner) for o in back.overwritten)
        self.assertIn(("note", "cover missing; barrier placed"), told, back)
        self.assertEqual([o.report_id for o in warden.overwrites()], [cover] * len(told))

        # And the warden's own edit and delete go the other way.
        warden.edit_report(rubbish, gw.ReportChanges(clear_address=True, note="rubbish, bags"))
        warden.delete_report(rubbish)
        self.assertRejected(lambda: warden.edit_report(rubbish, gw.ReportChanges(note="x")), "deleted")
        self.assertEqual([r.id for r in warden.list_reports()], [cover])
        self.assertTrue(warden.show_report(rubbish).deleted)
        self.assertEqual(warden.sync_blocking(gw.SyncOptions(), None, None).pushed, 2)
        asyncio.run(supervisor.sync(gw.SyncOptions(), None, None))
        self.assertEqual([r.id for r in supervisor.list_reports()], [cover])

    def test_05_a_gpx_track_from_another_app_becomes_a_patrol(self):
        imported = self.warden.patrol_import_gpx(GPX, None)
        self.assertEqual(imported.name, "evening round")
        self.assertEqual(imported.points_in_file, 3)
        self.assertEqual(imported.segments, 1)
        patrols = {p.id: p for p in self.warden.list_patrols()}
        self.assertIn(imported.patrol_id, patrols)
        self.assertIsNotNone(patrols[imported.patrol_id].ended_at_ms)
        self.assertRejected(lambda: self.warden.patrol_import_gpx(b"<gpx", None), "GPX")

    def sync(self, phone):
        """A sync from a worker thread; the server refused nothing."""
        summary = phone.sync_blocking(gw.SyncOptions(), None, None)
        self.assertEqual(summary.rejected, [], summary)
        return summary

    def test_06_a_case_goes_round_the_loop_between_the_two_phones(self):
        warden, supervisor = self.warden, self.supervisor
        warden_user = self.warden_info.user
        leak = warden.record_report(here(note="hydrant leaking"))
        kerb = warden.record_report(here(note="kerb stone loose"))
        self.assertEqual(warden.show_case(leak).status, gw.CaseStatus.REPORTED)

        # A step this device can tell is wrong is refused at once.
        self.assertRejected(
            lambda: warden.case_step(leak, gw.CaseStep.REJECT(reason=" ")), "needs a reason"
        )
        self.assertRejected(
            lambda: warden.case_step("no-such-report", gw.CaseStep.CLOSE()), "not a report id"
        )
        self.assertEqual(warden.show_case(leak).pending, [])

        # A warden may not register: the step is queued, and the server
        # refuses it at the sync, with its reason; the case stays as it was.
        register = warden.case_step(kerb, gw.CaseStep.REGISTER(note="me"))
        self.assertEqual(warden.show_case(kerb).pending, ["register"])
        summary = warden.sync_blocking(gw.SyncOptions(), None, None)
        self.assertEqual(len(summary.rejected), 1, summary)
        refused = summary.rejected[0]
        self.assertEqual((refused.op_id, refused.report_id), (register, kerb))
        self.assertEqual(refused.code, "forbidden")
        self.assertIn("only a supervisor may register", refused.reason)
        self.assertTrue(warden.show_report(kerb).status.is_rejected())
        self.assertIn(register, [r.op_id for r in warden.rejections()])
        kept = warden.show_case(kerb)
        self.assertEqual((kept.status, kept.pending, kept.history), (gw.CaseStatus.REPORTED, [], []))
        self.assertIn("only a supervisor may register", kept.rejected)

        # The supervisor registers the leak and dispatches it to the
        # category's department, offline, then syncs.
        asyncio.run(supervisor.sync(gw.SyncOptions(), None, None))
        supervisor.case_step(leak, gw.CaseStep.REGISTER(note="立案"))
        supervisor.case_step(leak, gw.CaseStep.DISPATCH())
        self.assertEqual(supervisor.show_case(leak).pending, ["register", "dispatch"])
        self.sync(supervisor)
        case = supervisor.show_case(leak)
        self.assertEqual((case.status, case.department), (gw.CaseStatus.DISPATCHED, DEPARTMENT))
        self.assertIsNotNone(case.deadline_ms, "the dispatch set a disposal deadline")
        self.assertEqual(case.reporter, warden_user)
        self.assertEqual([s.op for s in case.history], ["register", "dispatch"])
        self.assertEqual(case.history[0].text, "立案")
        self.assertEqual((case.history[0].by, case.history[0].role), (self.supervisor_info.user, "supervisor"))
        self.assertEqual(case.history[1].department, DEPARTMENT)
        dispatched = supervisor.list_cases(gw.CaseFilter(status=gw.CaseStatus.DISPATCHED))
        self.assertEqual([c.report_id for c in dispatched], [leak])

        # For the department, the supervisor reports it fixed and asks
        # whoever covers the cell to check.
        supervisor.case_step(leak, gw.CaseStep.DISPOSE(note="valve replaced"))
        supervisor.case_step(leak, gw.CaseStep.SEND_FOR_VERIFICATION())
        self.sync(supervisor)
        self.assertEqual(supervisor.show_case(leak).status, gw.CaseStatus.VERIFYING)
        self.assertEqual(supervisor.tasks(), [], "tasks are the field's")

        # The task reaches the warden, who covers the cell, at the next sync.
        self.assertEqual(warden.tasks(), [])
        self.sync(warden)
        [task] = warden.tasks()
        self.assertEqual((task.report_id, task.status, task.grid_cell), (leak, gw.CaseStatus.VERIFYING, CELL))
        self.assertIsNone(task.verifier)

        # The warden verifies offline, with a photo: the task leaves the list at once.
        evidence = os.path.join(self.root, "dry.jpg")
        with open(evidence, "wb") as f:
            f.write(JPEG)
        warden.case_step(
            leak, gw.CaseStep.VERIFY(passed=True, note="dry now", photo_paths=[evidence])
        )
        self.assertEqual(warden.tasks(), [])
        self.assertEqual(warden.show_case(leak).pending, ["verify"])
        self.sync(warden)

        # The supervisor sees it verified and closes it.
        asyncio.run(supervisor.sync(gw.SyncOptions(), None, None))
        verified = supervisor.list_cases(gw.CaseFilter(status=gw.CaseStatus.VERIFIED))
        self.assertEqual([c.report_id for c in verified], [leak])
        supervisor.case_step(leak, gw.CaseStep.CLOSE(note="结案"))
        self.sync(supervisor)
        closed = supervisor.show_case(leak)
        self.assertEqual(closed.status, gw.CaseStatus.CLOSED)
        self.assertEqual(
            [s.op for s in closed.history],
            ["register", "dispatch", "dispose", "send_for_verification", "verify", "close"],
        )
        verify = closed.history[4]
        self.assertEqual((verify.by, verify.passed, verify.text), (warden_user, True, "dry now"))
        # The verification photo reached the server and the supervisor fetches it.
        self.assertEqual(len(verify.photos), 1)
        copy = os.path.join(self.root, "dry-fetched.jpg")
        self.assertEqual(supervisor.fetch_photo_blocking(verify.photos[0], copy), len(JPEG))
        self.assertEqual(
            (closed.history[-1].from_status, closed.history[-1].to_status), (gw.CaseStatus.VERIFIED, gw.CaseStatus.CLOSED)
        )
        self.sync(warden)
        self.assertEqual(warden.show_case(leak).status, gw.CaseStatus.CLOSED)

        # The supervisor's KPIs by department, computed on the phone.
        now = int(time.time() * 1000)
        rows = {r.key: r for r in supervisor.kpi(gw.KpiGroup.DEPARTMENT, now - DAY_MS, now + DAY_MS)}
        row = rows[DEPARTMENT]
        self.assertEqual(
            (row.registered, row.dispatched, row.closed_in_period, row.reworked), (1, 1, 1, 0)
        )
        self.assertIsNotNone(row.mean_hours_to_close)
        self.assertEqual(row.rework_rate, 0.0)
        self.assertIn("(none)", rows, "reports never dispatched")
        by_warden = supervisor.kpi(gw.KpiGroup.WARDEN, now - DAY_MS, now + DAY_MS)
        self.assertEqual([r.key for r in by_warden], [warden_user])

    def test_07_the_supervisor_reviews_the_wardens_patrols_from_the_server(self):
        warden_user = self.warden_info.user
        self.sync(self.warden)  # test 5's imported patrol, if not sent yet
        mine = {p.id: p for p in self.warden.list_patrols()}
        self.assertEqual(len(mine), 2, "test 4's round and test 5's import")

        listed = self.supervisor.remote_patrols_blocking(gw.PatrolQuery(warden=warden_user))
        self.assertEqual({p.id for p in listed}, set(mine))
        starts = [p.started_at_ms for p in listed]
        self.assertEqual(starts, sorted(starts, reverse=True), "newest first")
        [morning] = [p for p in listed if p.note == "morning round"]
        self.assertEqual((morning.warden, morning.points), (warden_user, 5))
        self.assertEqual(morning.covered_cells, [CELL])
        self.assertAlmostEqual(morning.distance_m, mine[morning.id].distance_m, delta=0.5)

        everyone = asyncio.run(self.supervisor.remote_patrols(gw.PatrolQuery()))
        self.assertTrue(set(mine) <= {p.id for p in everyone})
        track = asyncio.run(self.supervisor.remote_patrol(morning.id))
        self.assertEqual(track.summary.id, morning.id)
        self.assertEqual([p.seq for p in track.points], list(range(5)))
        self.assertEqual(self.supervisor.remote_patrol_blocking(morning.id), track)
        self.assertEqual(self.supervisor.list_patrols(), [], "nothing was stored on the phone")

        self.assertRejected(
            lambda: self.supervisor.remote_patrol_blocking(str(uuid.uuid4())), "no patrol"
        )
        self.assertRejected(
            lambda: self.supervisor.remote_patrol_blocking("no-such-patrol"), "not a patrol id"
        )

    def test_08_the_app_and_its_background_job_open_one_home_at_once(self):
        for round in range(5):
            home = os.path.join(self.root, f"shared-{round}")
            start = threading.Barrier(2)
            results = [None, None]

            def opener(slot):
                start.wait()
                try:
                    results[slot] = open_client(home).status()
                except Exception as e:  # noqa: BLE001  (reported below)
                    results[slot] = e

            threads = [threading.Thread(target=opener, args=(i,)) for i in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            for result in results:
                self.assertIsInstance(result, gw.ClientStatus, f"round {round}: {result!r}")
        # A second client on the warden's home sees the same store.
        background = open_client(os.path.join(self.root, "warden"))
        self.assertEqual(
            [r.id for r in background.list_reports()],
            [r.id for r in self.warden.list_reports()],
        )

    def test_09_offline_when_the_server_is_down(self):
        stop_server()
        queued = self.warden.record_report(here(note="recorded with the server down"))
        with self.assertRaises(gw.GridwardenError.Offline) as caught:
            self.warden.sync_blocking(gw.SyncOptions(), None, None)
        self.assertIn("cannot reach the server", str(caught.exception))
        with self.assertRaises(gw.GridwardenError.Offline):
            asyncio.run(self.warden.sync(gw.SyncOptions(), None, None))
        self.assertTrue(self.warden.show_report(queued).status.is_pending(), "nothing lost")
        self.assertGreater(self.warden.status().outbox, 0)

    def test_10_a_sync_is_cancelled_by_its_token(self):
        # The server is down (test 9): a sync that retries until cancelled.
        forever = gw.SyncOptions(max_attempts=0, first_retry_ms=100, max_retry_ms=200)

        already = gw.CancelToken()
        already.cancel()
        self.assertTrue(already.is_cancelled())
        with self.assertRaises(gw.GridwardenError.Cancelled):
            self.warden.sync_blocking(forever, None, already)

        # Blocking, cancelled from another thread while it waits to retry.
        token = gw.CancelToken()
        progress = Progress(wake_on=lambda p: p.is_waiting())
        outcome = {}

        def worker():
            try:
                outcome["summary"] = self.warden.sync_blocking(forever, progress, token)
            except gw.GridwardenError as e:
                outcome["error"] = e

        thread = threading.Thread(target=worker)
        thread.start()
        self.assertTrue(progress.woken.wait(30), f"no retry announced: {progress.kinds()}")
        cancelled_at = time.monotonic()
        token.cancel()
        thread.join(30)
        self.assertFalse(thread.is_alive(), "the cancelled sync did not return")
        self.assertLess(time.monotonic() - cancelled_at, 1.5, "cancelling is prompt")
        self.assertIsInstance(outcome.get("error"), gw.GridwardenError.Cancelled, outcome)
        self.assertIn("WAITING", progress.kinds())

        # Async, cancelled while connecting.
        async def cancel_while_connecting():
            token = gw.CancelToken()
            connecting = Progress(wake_on=lambda p: p.is_connecting())
            task = asyncio.ensure_future(self.warden.sync(forever, connecting, token))
            while not connecting.woken.is_set():
                await asyncio.sleep(0.01)
            token.cancel()
            with self.assertRaises(gw.GridwardenError.Cancelled) as caught:
                await asyncio.wait_for(task, 5)
            self.assertIn("cancelled", str(caught.exception))

        asyncio.run(cancel_while_connecting())


if __name__ == "__main__":
    unittest.main(failfast=True, verbosity=2)
