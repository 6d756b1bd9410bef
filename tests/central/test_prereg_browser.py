"""The pre-registration page, the daily report and the exports in headless Chromium, as the office uses
them: a list imported with its progress bar, a bad list refused line by line, the report of a township,
an export built in the background (its progress bar, then its link)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from central.auth import Accounts, Role
from central.store import OFFICE_ZONE, Store
from checkpoint.broker import Broker
from tests.browser import launch, log_in
from tests.central.conftest import PASSWORD, Server, add_places, settings_for, synthetic_id
from tests.central.test_export_jobs import held as held  # the fixture that holds the XLSX writer back
from tests.central.test_registrations import people

pytestmark = pytest.mark.browser
DAY = (date.today() + timedelta(days=1)).isoformat()
HEAD = "身份证号,姓名,车牌,始发地,目的地,预计到达日期\n"


@pytest.fixture
def page(tmp_path: Path, broker: Broker, sqlite_store: Store) -> Iterator[tuple[Page, str]]:
    add_places(sqlite_store, {"420102": "江岸区", "420102001": "大智街道", "420102001003": "天声街社区"})
    accounts = Accounts(sqlite_store.engine)
    accounts.add("admin", PASSWORD, Role.ADMIN)
    accounts.add("township", PASSWORD, Role.VIEWER, region="420102001")
    with Server(settings_for(broker), sqlite_store) as server, sync_playwright() as pw:
        browser = launch(pw)
        yield browser.new_page(viewport={"width": 1280, "height": 800}), server.url
        browser.close()


def test_a_list_is_imported_with_its_progress_and_a_bad_one_refused_line_by_line(
    page: tuple[Page, str], tmp_path: Path
) -> None:
    browser, url = page
    log_in(browser, url, "admin", PASSWORD, "/registrations")
    good = tmp_path / "list.csv"
    good.write_text(HEAD + "".join(f"{number},测试{n},鄂A1234{n % 10},420100,420102001003,{DAY}\n"
                                   for n, number in enumerate(people(1500))), encoding="utf-8")
    browser.set_input_files("#registrations-file", str(good))
    browser.click("#import-registrations")
    expect(browser.locator("#import-state")).to_contain_text("已导入并推送: 1500", timeout=20_000)
    expect(browser.locator("#import-progress")).to_have_attribute("value", "1500")
    browser.screenshot(path=str(tmp_path / "imported.png"))
    browser.reload()
    expect(browser.locator("#registrations tbody tr")).to_have_count(200)  # the page shows the first 200
    expect(browser.locator("#registrations tbody tr").first).to_contain_text("天声街社区")

    bad = tmp_path / "bad.csv"
    wrong = synthetic_id(seq=9)[:-1] + ("0" if synthetic_id(seq=9)[-1] != "0" else "1")
    bad.write_text(HEAD + f"{synthetic_id(seq=8)},甲,,,420102,{DAY}\n{wrong},乙,,,420102,{DAY}\n"
                   f"{synthetic_id(seq=7)},丙,,,42010,{DAY}\n", encoding="utf-8")
    browser.set_input_files("#registrations-file", str(bad))
    browser.click("#import-registrations")
    expect(browser.locator("#import-errors li")).to_have_count(2, timeout=20_000)
    expect(browser.locator("#import-errors li").nth(0)).to_contain_text("第 3: 身份证号")
    expect(browser.locator("#import-errors li").nth(1)).to_contain_text("第 4: 目的地")
    expect(browser.locator("#import-state")).to_contain_text("nothing imported")
    assert wrong not in browser.content()


def test_a_township_reads_its_own_report(page: tuple[Page, str]) -> None:
    browser, url = page
    log_in(browser, url, "township", PASSWORD, "/report")
    expect(browser.locator("h1")).to_contain_text("辖区日报 · 大智街道")
    rows = browser.locator("#report tbody tr")
    expect(rows).to_have_count(2)  # the township and its community: nothing of the county above
    expect(rows.nth(0)).to_contain_text("大智街道")
    expect(rows.nth(1)).to_contain_text("天声街社区")
    browser.click("#report-xlsx")  # built in the background: a progress bar, then the link
    today = datetime.now(OFFICE_ZONE).date()  # the report's day is the office's (UTC+8), not the machine's
    expect(browser.locator("#export-state")).to_contain_text(f"文件已生成： report-420102001-{today}")
    with browser.expect_download() as download:
        browser.click("#export-download")
    assert download.value.suggested_filename == f"report-420102001-{today}.xlsx"


def test_an_export_shows_its_progress_then_its_link(page: tuple[Page, str], held: threading.Event) -> None:
    browser, url = page
    log_in(browser, url, "admin", PASSWORD, "/cases")
    browser.click("a[data-export][href$='cases.xlsx']")  # the writer is held: the job runs
    expect(browser.locator("#export-job progress")).to_be_visible()
    expect(browser.locator("#export-state")).to_have_text("正在生成文件…")
    expect(browser.locator("#export-download")).to_be_hidden()
    held.set()
    expect(browser.locator("#export-state")).to_contain_text("文件已生成： cases-0-", timeout=20_000)
    expect(browser.locator("#export-job progress")).to_be_hidden()
    with browser.expect_download() as download:
        browser.click("#export-download")
    assert download.value.suggested_filename.startswith("cases-0-")
