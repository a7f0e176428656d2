#!/usr/bin/env python3
"""The supervisor console in a real browser, against a real server.

Run by tests/tests/e2e/console.rs, which starts the server, enrols real
devices, records reports and a patrol from them, and passes what it made in
the environment (GW_*). This script drives Debian's headless Chromium
(/usr/bin/chromium, never a downloaded browser) with playwright and asks the
harness for what only a device can do — pull a case, record a report, run
`gridwarden kpi` — by printing `gridwarden-test: REQUEST` and reading the
answer line on stdin.

Each step prints `ok: …`; the last line is `console test: all steps passed`.
Screenshots of every page go to $GW_SCREENSHOTS.
"""

import datetime
import json
import os
import re
import sys
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

ENV = os.environ
BASE = ENV["GW_URL"].rstrip("/")  # http://127.0.0.1:PORT
CONSOLE = BASE + "/console/"
SHOTS = Path(ENV["GW_SCREENSHOTS"])
CHROMIUM = ENV.get("GW_CHROMIUM", "/usr/bin/chromium")

# Conditions awaited, not sleeps: generous, for a loaded machine.
expect.set_options(timeout=30_000)


def ask(request):
    """Asks the Rust harness to act as a device; returns its answer line."""
    print(f"gridwarden-test: {request}", flush=True)
    answer = sys.stdin.readline()
    if not answer:
        raise RuntimeError(f"the harness closed stdin while asked: {request}")
    return answer.rstrip("\n")


def ok(what):
    print(f"ok: {what}", flush=True)


def shot(page, name):
    # Settle the map's own animations (zoom, fade) before the picture.
    page.wait_for_timeout(400)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def short(report_id):
    return report_id[:8]


def watch(page, errors, foreign):
    """Every uncaught page error and every request off the server's origin."""
    page.on("pageerror", lambda e: errors.append(str(e)))

    def request(r):
        if not (r.url.startswith(BASE + "/") or r.url.startswith(("data:", "blob:"))):
            foreign.append(r.url)

    page.on("request", request)


def search(page, text):
    box = page.get_by_label("搜索（编号前缀或描述）")
    box.fill(text)
    box.press("Enter")


def queue_row(page, report_id):
    return page.locator(f'table.cases tbody tr[data-id="{report_id}"]')


def city_date(ms, offset_minutes, days=0):
    tz = datetime.timezone(datetime.timedelta(minutes=offset_minutes))
    day = datetime.datetime.fromtimestamp(ms / 1000, tz).date()
    return (day + datetime.timedelta(days=days)).isoformat()


def main():
    SHOTS.mkdir(parents=True, exist_ok=True)
    errors, foreign = [], []

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM)
        try:
            run(browser, errors, foreign)
        except BaseException:
            # What the page showed when a step failed, for whoever reads the log.
            for c, context in enumerate(browser.contexts):
                for n, page in enumerate(context.pages):
                    page.screenshot(path=str(SHOTS / f"failure-{c}-{n}.png"))
                    print(f"--- page {page.url} at the failure:\n{page.locator('body').inner_text()[:3000]}")
            raise
        browser.close()

    assert not errors, f"errors in the page: {errors}"
    assert not foreign, f"requests off the server's origin: {foreign}"
    print("console test: all steps passed", flush=True)


def run(browser, errors, foreign):
    note = ENV["GW_NOTE"]
    report_id = ENV["GW_REPORT"]
    cell = ENV["GW_CELL"]
    department = ENV["GW_DEPARTMENT"]
    script_note = ENV["GW_SCRIPT_NOTE"]
    outside_id = ENV["GW_OUTSIDE_REPORT"]
    outside_note = ENV["GW_OUTSIDE_NOTE"]
    district_cells = int(ENV["GW_DISTRICT_CELLS"])
    # The browser sits in New York: the page must still show the city's
    # time (UTC+8 from the working calendar), not the browser's.
    context = browser.new_context(
        viewport={"width": 1440, "height": 900},
        locale="zh-CN",
        timezone_id="America/New_York",
    )
    page = context.new_page()
    watch(page, errors, foreign)

    # --- Sign in with a password --------------------------------------
    page.goto(CONSOLE)
    expect(page.get_by_role("heading", name="登录")).to_be_visible()
    shot(page, "01-sign-in")
    page.get_by_label("用户名").fill("sam")
    page.get_by_label("密码").fill("not the password")
    page.get_by_role("button", name="登录", exact=True).click()
    expect(page.get_by_role("alert")).not_to_be_empty()
    refused = page.get_by_role("alert").inner_text()
    page.get_by_label("密码").fill(ENV["GW_SAM_PASSWORD"])
    page.get_by_role("button", name="登录", exact=True).click()
    expect(page.locator("header .user")).to_contain_text("sam")
    expect(page.get_by_role("button", name="案件", exact=True)).to_have_attribute("aria-current", "page")
    ok(f"signed in by password (a wrong one was refused: {refused!r})")

    # Every string comes from a table, and both tables hold the same keys.
    missing = page.evaluate(
        """async () => {
            const zh = (await import('/console/i18n/zh.js')).default;
            const en = (await import('/console/i18n/en.js')).default;
            return [Object.keys(zh).filter((k) => !(k in en)), Object.keys(en).filter((k) => !(k in zh))];
        }"""
    )
    assert missing == [[], []], f"message tables differ: {missing}"
    ok("the zh and en message tables hold the same keys")

    # --- Find the phone's report by its note --------------------------
    search(page, note)
    row = queue_row(page, report_id)
    expect(row).to_be_visible()
    expect(row.locator("td.note")).to_have_text(note)
    expect(page.locator("table.cases tbody tr[data-id]")).to_have_count(1)
    assert "q=" in page.url, page.url
    ok(f"found report {short(report_id)} by its note; the search is in the URL")

    # The CSV export holds exactly what the filters show.
    href = page.get_by_role("link", name="导出 CSV").get_attribute("href")
    assert href.startswith("/api/cases.csv?") and "q=" in href, href
    csv = page.evaluate("async (u) => await (await fetch(u)).text()", href)
    lines = [l for l in csv.splitlines() if l.strip()]
    assert len(lines) == 2 and report_id in lines[1], lines
    ok("the CSV export holds the one case the filters show")

    # The URL is the view: a reload shows the same list.
    page.reload()
    expect(queue_row(page, report_id)).to_be_visible()
    expect(page.get_by_label("搜索（编号前缀或描述）")).to_have_value(note)
    ok("a reload of the URL shows the same filtered list")

    # Times are the city's: observed_at rendered at UTC+8.
    observed = page.evaluate(
        "async (id) => (await (await fetch('/api/cases/' + id)).json()).report.observed_at",
        report_id,
    )
    expected_local = page.evaluate(
        """(iso) => { const d = new Date(Date.parse(iso) + 480 * 60000);
            const p = (n) => String(n).padStart(2, '0');
            return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}`; }""",
        observed,
    )
    expect(queue_row(page, report_id).locator("td").nth(7)).to_have_text(expected_local)
    ok(f"observed time shown in city time ({expected_local}, UTC+8) in a New York browser")
    shot(page, "02-cases")

    # --- The case panel and the map -----------------------------------
    opener = queue_row(page, report_id).get_by_role("button", name=re.compile("^打开案件"))
    # The id shows as its shortest unique start (reports of one minute share eight characters).
    shown = opener.inner_text()
    assert report_id.startswith(shown) and len(shown) >= 8, shown
    opener.click()
    panel = page.locator("#case-panel")
    expect(panel.locator(".case-note")).to_have_text(note)
    expect(panel.locator(".case-cell")).to_contain_text(cell)
    assert f"case={report_id}" in page.url, page.url
    selected = page.locator(f'path.gw-selected-cell[data-cell="{cell}"]')
    expect(selected).to_have_count(1)
    pin = page.locator(f'.gw-pin[data-id="{report_id}"]')
    expect(pin).to_be_visible()
    # The pin's centre lies inside the cell's outline, once the map has
    # settled (measured in one go in the page, awaited as a condition).
    page.wait_for_function(
        """([id, code]) => {
            const pin = document.querySelector(`.gw-pin[data-id="${id}"]`);
            const path = document.querySelector(`path.gw-selected-cell[data-cell="${code}"]`);
            if (!pin || !path || document.querySelector('.leaflet-zoom-anim')) return false;
            const r = pin.getBoundingClientRect();
            const centre = new DOMPoint(r.x + r.width / 2, r.y + r.height / 2);
            return path.isPointInFill(centre.matrixTransform(path.getScreenCTM().inverse()));
        }""",
        arg=[report_id, cell],
    )
    ok(f"the report shows on the map inside its cell {cell}")

    # Photos: a thumbnail, the full image on click.
    thumbs = panel.locator(".thumb img")
    expect(thumbs).to_have_count(1)
    expect(thumbs.first).to_have_js_property("complete", True)
    width = thumbs.first.evaluate("img => img.naturalWidth")
    assert width > 0, "the thumbnail did not load"
    panel.get_by_role("button", name="查看照片 1 原图").click()
    full = page.locator("dialog.photo-dialog img")
    expect(full).to_be_visible()
    assert full.evaluate("img => img.complete && img.naturalWidth > 0")
    page.keyboard.press("Escape")
    expect(page.locator("dialog.photo-dialog")).to_have_count(0)
    ok("the photo shows as a thumbnail and full size")

    # Panning filters the list: zoomed on the case, the far report is not listed.
    search(page, "")
    # In view: cell A's two reports (this one and the <script> one), not the far one.
    expect(page.locator("table.cases tbody tr[data-id]")).to_have_count(2)
    expect(queue_row(page, report_id)).to_be_visible()
    expect(queue_row(page, outside_id)).to_have_count(0)
    assert "view=" in page.url, page.url
    page.get_by_label("仅地图范围内").uncheck()
    expect(queue_row(page, outside_id)).to_be_visible()
    assert "inview=0" in page.url, page.url
    ok("the list follows the map's view, and stops when asked")

    # --- Register, then dispatch to the category's department ---------
    panel.get_by_role("button", name="立案", exact=True).click()
    panel.get_by_role("button", name="确认立案").click()
    expect(panel.locator(".case-title .chip")).to_have_text("已立案")
    panel.get_by_role("button", name="派遣", exact=True).click()
    chosen = panel.locator(".form-dispatch").get_by_label("处置部门")
    expect(chosen).to_have_value(department)
    panel.get_by_role("button", name="确认派遣").click()
    expect(panel.locator(".case-title .chip")).to_have_text("已派遣")
    expect(panel.locator(".timeline li.step-dispatch")).to_have_count(1)
    expect(queue_row(page, report_id).locator(".chip")).to_have_text("已派遣")
    shot(page, "03-case")
    ok(f"registered and dispatched to {department} (the category's route, preselected)")

    # Postpone: two working days, with a reason; the history says why.
    panel.get_by_role("button", name="延期", exact=True).click()
    form = panel.locator(".form-postpone")
    form.get_by_label("延期时长").fill("2")
    form.get_by_role("button", name="确认延期").click()
    expect(form.get_by_role("alert")).to_have_text("请填写理由。")
    form.get_by_label("理由").fill("等待配件 waiting for a part")
    form.get_by_role("button", name="确认延期").click()
    expect(panel.locator(".timeline li.step-postpone .why")).to_have_text("等待配件 waiting for a part")
    expect(panel.locator(".case-title .chip")).to_have_text("已派遣")
    ok("postponed by two working days with a reason (asked for when missing)")

    # A second device pulls the new status.
    pulled = json.loads(ask(f"pull-case {report_id}"))
    assert pulled["status"] == "dispatched", pulled
    assert pulled["department"] == department, pulled
    ok(f"a second device pulled the case: {pulled}")

    # A refused step says why (bulk register of a case already dispatched).
    queue_row(page, report_id).get_by_role("checkbox").check()
    page.get_by_role("button", name="批量立案").click()
    result = page.locator(".bulk-result")
    expect(result).to_contain_text("失败 1 件")
    sentence = result.locator("li").inner_text()
    assert len(sentence.split(":", 1)[-1].strip()) > 10, sentence
    ok(f"a refused bulk step shows the server's sentence: {sentence!r}")

    # --- An id prefix that fits several cases lists them ----------------
    prefix = os.path.commonprefix([report_id, outside_id])
    page.goto(f"{CONSOLE}?case={prefix}&inview=0")
    expect(panel.get_by_role("heading")).to_contain_text(prefix)
    matches = panel.locator("ul.matches button")
    expect(matches.filter(has_text=report_id)).to_have_count(1)
    expect(matches.filter(has_text=outside_id)).to_have_count(1)
    matches.filter(has_text=report_id).click()
    expect(panel.locator(".case-note")).to_have_text(note)
    ok(f"the id start {prefix!r} lists the cases it fits; one click opens one")

    # --- A note holding <script> shows as text ------------------------
    search(page, "onerror")
    script_row = page.locator("table.cases tbody tr[data-id]").filter(has_text="<script>")
    expect(script_row).to_have_count(1)
    expect(script_row.locator("td.note")).to_have_text(script_note)
    script_row.get_by_role("button", name=re.compile("^打开案件")).click()
    expect(panel.locator(".case-note")).to_have_text(script_note)
    assert page.evaluate("window.__gwXss === undefined"), "the note's script ran"
    assert page.locator("img[src='x']").count() == 0, "the note's markup became an element"
    ok("a note holding <script> shows as text and runs nothing")
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()

    # --- New reports appear without a reload --------------------------
    search(page, "live-arrival")
    expect(page.locator("table.cases tbody td.empty")).to_be_visible()
    live_id = ask("record-report 新上报 live-arrival 路灯不亮")
    expect(queue_row(page, live_id)).to_be_visible()
    expect(page.locator(".toast").filter(has_text=short(live_id))).to_be_visible()
    ok(f"a report recorded on a phone appeared without a reload ({short(live_id)})")

    # --- Bulk register, then bulk dispatch to each category's department --
    search(page, "路灯不亮")
    rows = page.locator("table.cases tbody tr[data-id]")
    expect(rows).to_have_count(2)  # the live report and the <script> one
    bulk_ids = [rows.nth(i).get_attribute("data-id") for i in range(2)]
    assert live_id in bulk_ids, bulk_ids
    for step, done in (("批量立案", "已立案"), ("批量派遣", "已派遣")):
        for rid in bulk_ids:
            queue_row(page, rid).get_by_role("checkbox").check()
        page.get_by_role("button", name=step).click()
        expect(page.locator(".bulk-result")).to_contain_text("成功 2 件，失败 0 件")
        for rid in bulk_ids:
            expect(queue_row(page, rid).locator(".chip")).to_have_text(done)
    ok("two cases registered, then dispatched, in bulk")

    # --- Patrols ------------------------------------------------------
    offset = page.evaluate("async () => (await (await fetch('/api/session')).json()).utc_offset_minutes")
    page.get_by_role("button", name="巡查", exact=True).click()
    patrol_day = city_date(int(ENV["GW_PATROL_START_MS"]), offset)
    page.get_by_label("日期", exact=True).fill(patrol_day)
    assert f"date={patrol_day}" in page.url, page.url
    patrol_button = page.get_by_role("button", name=re.compile("^查看 ann"))
    expect(patrol_button).to_be_visible()
    patrol_button.click()
    # Paths, not boxes: a track can be a straight line with no height.
    expect(page.locator("path.gw-track")).to_have_count(1)
    # (Leaflet simplifies a straight walk to its ends: one segment at least.)
    assert "L" in page.locator("path.gw-track").get_attribute("d"), "the track is not drawn"
    jumps = page.locator("path.gw-jump").count()
    assert jumps >= 1, "the patrol's GPS jump is not drawn"
    expect(page.locator(".patrol-distance")).to_have_text(re.compile(r"^\d+(\.\d+)? k?m$"))
    expect(page.locator(".patrol-reports")).to_contain_text(short(report_id))
    expect(page.locator(".unvisited h3")).to_be_visible()
    shot(page, "04-patrols")
    ok(f"ann's patrol: track drawn with {jumps} flagged jump(s), its report listed")

    # --- KPIs equal `gw kpi` ------------------------------------------
    # Around today in the city; the page's `to` is inclusive, gw kpi's exclusive.
    now_ms = page.evaluate("Date.now()")
    period_from, period_to = city_date(now_ms, offset, -2), city_date(now_ms, offset, 1)
    to_exclusive = city_date(now_ms, offset, 2)
    page.goto(f"{CONSOLE}?page=kpi&by=grid&kfrom={period_from}&kto={period_to}")
    table = page.locator("table.kpi")
    expect(table).to_be_visible()
    expect(page.locator("table.kpi tbody tr").first).to_be_visible()
    on_page = page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('table.kpi tbody tr')].map((tr) =>
            [tr.dataset.key, Object.fromEntries([...tr.querySelectorAll('td[data-figure]')].map((td) =>
                [td.dataset.figure, td.dataset.value === '' ? null : Number(td.dataset.value)]))]))"""
    )
    device = json.loads(ask(f"kpi {period_from} {to_exclusive}"))
    device_rows = {r["key"]: r for r in device}
    assert set(on_page) == set(device_rows), (sorted(on_page), sorted(device_rows))
    for key, figures in on_page.items():
        for figure, value in figures.items():
            theirs = device_rows[key][figure]
            if value is None or theirs is None:
                assert value is None and theirs is None, (key, figure, value, theirs)
            else:
                assert abs(value - theirs) < 1e-9, (key, figure, value, theirs)
    shot(page, "05-kpi")
    ok(f"KPIs by cell, {period_from}..{period_to}, equal `gw kpi` ({len(on_page)} rows)")

    kpi_csv = page.get_by_role("link", name="导出 CSV").get_attribute("href")
    assert kpi_csv.startswith("/api/kpi.csv?") and f"to={to_exclusive}" in kpi_csv, kpi_csv
    csv = page.evaluate("async (u) => await (await fetch(u)).text()", kpi_csv)
    for key in on_page:
        assert key in csv, (key, csv)
    ok("the KPI CSV export holds the same rows")

    # --- Alerts -------------------------------------------------------
    # Three reports of one subclass in cell A within a day: a hot spot
    # (the default threshold), counted on the tab without a reload.
    expect(page.locator("header .badge")).to_have_text(re.compile(r"^[1-9]\d*$"))
    page.get_by_role("button", name=re.compile("^预警")).click()
    expect(page.get_by_role("heading", name="预警", exact=True)).to_be_visible()
    expect(page.locator("ul.hotspots li").filter(has_text=cell)).to_have_count(1)
    shot(page, "06-alerts")
    ok("the alerts page shows cell A as a hot spot")

    # --- English ------------------------------------------------------
    page.goto(f"{CONSOLE}?lang=en&q={note}&inview=0")
    expect(page.get_by_role("button", name="Cases", exact=True)).to_be_visible()
    expect(page.get_by_label("Search (id prefix or note)")).to_have_value(note)
    expect(queue_row(page, report_id).locator(".chip")).to_have_text("dispatched")
    shot(page, "07-cases-en")
    ok("English by ?lang=en")

    # --- Keyboard: the queue and the case panel work without a mouse --
    page.goto(f"{CONSOLE}?q={note}&inview=0")
    expect(queue_row(page, report_id)).to_be_visible()
    opener = queue_row(page, report_id).get_by_role("button", name=re.compile("^打开案件"))
    opener.focus()
    page.keyboard.press("Enter")
    expect(panel.locator(".case-note")).to_have_text(note)
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    ok("a case opens with Enter and closes with Escape")

    page.get_by_role("button", name="退出登录").click()
    expect(page.get_by_role("heading", name="登录")).to_be_visible()
    ok("signed out")

    # --- A district supervisor, signed in by a one-time link ----------
    link = ask("link dan")
    district = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    dpage = district.new_page()
    watch(dpage, errors, foreign)
    dpage.goto(link)
    expect(dpage.locator("header .user")).to_contain_text("dan")
    expect(dpage.locator("header .user")).to_contain_text(f"本辖区 {district_cells} 个网格")
    cells = dpage.evaluate("async () => (await (await fetch('/api/grid')).json()).features.length")
    assert cells == district_cells, (cells, district_cells)
    dpage.goto(f"{CONSOLE}?inview=0&q={outside_note}")
    expect(dpage.locator("table.cases tbody td.empty")).to_be_visible()
    dpage.goto(f"{CONSOLE}?inview=0&q={note}")
    expect(queue_row(dpage, report_id)).to_be_visible()
    shot(dpage, "08-district")
    dpage.goto(f"{CONSOLE}?case={outside_id}")
    expect(dpage.locator("#case-panel .error")).to_be_visible()
    status = dpage.evaluate("async (id) => (await fetch('/api/cases/' + id)).status", outside_id)
    assert status == 404, status
    ok(f"the district supervisor sees their {district_cells} cells only; another district's case is 404")

    # The link worked once.
    again = browser.new_context()
    apage = again.new_page()
    response = apage.goto(link)
    assert response.status == 401, response.status
    ok("a used sign-in link is refused")


if __name__ == "__main__":
    main()
