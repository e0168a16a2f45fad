"""digits-serve's page in a real browser (Debian's Chromium driven by pytest-playwright): drawing
with a mouse and a finger, photos, errors, roles and names, the keyboard alone, offline; and
digits-serve as started without options (both shipped readers) reading mouse-drawn digits and the
shared number photos as digits-predict --number reads them.

Without Chromium these tests skip, except where DIGITS_REQUIRE_BROWSER=1 (CI) makes that a failure.
Screenshots go to tests/screenshots/ (git-ignored), to be looked at.
"""

from __future__ import annotations

import base64
import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from helpers import DATA, PHOTOS, run_cli

REQUIRED = os.environ.get("DIGITS_REQUIRE_BROWSER") == "1"
try:
    from playwright.sync_api import expect
except ImportError:
    if REQUIRED:
        raise
    pytest.skip("pytest-playwright is not installed (pip install -e '.[test]')",
                allow_module_level=True)

SCREENSHOTS = Path(__file__).parent / "screenshots"
# A 1 and a 7 as strokes, in fractions of the canvas: (x, y) points, pen down to pen up.
ONE = [[(0.50, 0.18), (0.49, 0.82)]]
SEVEN = [[(0.38, 0.22), (0.62, 0.22), (0.47, 0.80)]]
# Digits drawn with a mouse in straight segments, which a photo's cleanup misreads (it takes a
# long straight bar for a ruled line): a wide 7 (a bar over half the pad, then the diagonal), a 2
# with a long flat base, a 4 with a long crossbar.
WIDE_SEVEN = [[(0.25, 0.20), (0.75, 0.20), (0.42, 0.85)]]
LONG_BASE_TWO = [[(0.28, 0.35), (0.38, 0.19), (0.58, 0.18), (0.68, 0.35), (0.62, 0.53),
                  (0.27, 0.83), (0.77, 0.83)]]
LONG_BAR_FOUR = [[(0.53, 0.15), (0.25, 0.65), (0.78, 0.65)], [(0.65, 0.38), (0.65, 0.88)]]
NUMBERS = DATA / "numbers"  # the shared number photos and their labels


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Debian's Chromium (Playwright cannot download its own here), headless, as root, and
    without the background connections this closed network refuses."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        reason = "no Chromium on this machine (apt-get install -y chromium)"
        if REQUIRED:
            pytest.fail(reason + " and DIGITS_REQUIRE_BROWSER=1")
        pytest.skip(reason)
    return {**browser_type_launch_args, "executable_path": chromium,
            "args": ["--no-sandbox", "--headless", "--disable-gpu", "--disable-quic",
                     "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync"]}


def shoot(page, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def draw(page, strokes, steps=8) -> None:
    box = page.locator("#pad").bounding_box()
    for stroke in strokes:
        points = [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in stroke]
        page.mouse.move(*points[0])
        page.mouse.down()
        for point in points[1:]:
            page.mouse.move(*point, steps=steps)
        page.mouse.up()


def expect_reading(page, answer: str) -> None:
    expect(page.get_by_role("status")).to_have_text(re.compile(f"The model reads {answer},"),
                                                    timeout=15_000)
    expect(page.locator("#answer")).to_have_text(answer)


@pytest.fixture
def app_page(page, live_server):
    page.goto(live_server)
    return page


def test_draws_a_one_and_a_seven_with_the_mouse(app_page):
    page = app_page
    draw(page, ONE)
    expect_reading(page, "1")
    expect(page.locator("#bars li")).to_have_count(10)
    expect(page.locator("#top3 li").first).to_have_text(re.compile(r"^1: "))
    expect(page.get_by_role("img", name="The 28 by 28 pixel image the model saw")).to_be_visible()
    shoot(page, "drawn_1")
    page.get_by_role("button", name="Clear").click()
    expect(page.get_by_role("status")).to_have_text("Draw in the box, or choose a photo.")
    draw(page, SEVEN)
    expect_reading(page, "7")
    shoot(page, "drawn_7")
    page.get_by_role("button", name="Undo").click()  # back to a blank canvas
    expect(page.locator("#result")).to_be_hidden()


def test_reads_a_photo_of_a_number(app_page):
    page = app_page
    page.get_by_role("radio", name="A number").check()
    page.get_by_role("button", name="Choose a photo").set_input_files(PHOTOS / "number_001.jpg")
    expect_reading(page, "8737")
    expect(page.locator("#digits li")).to_have_count(4)
    expect(page.get_by_role("img", name="The photo you chose")).to_be_visible()
    shoot(page, "photo_number")


def test_a_broken_file_shows_an_error_in_plain_words(app_page):
    page = app_page
    page.get_by_role("button", name="Choose a photo").set_input_files(
        files=[{"name": "broken.jpg", "mimeType": "image/jpeg", "buffer": b"\xff\xd8 not a jpeg"}])
    expect(page.get_by_role("alert")).to_have_text(
        "This file could not be read: not a readable image (corrupt, truncated or not an image "
        "format).")
    expect(page.locator("#result")).to_be_hidden()
    shoot(page, "broken_file")


def test_every_control_has_a_role_and_a_name_and_a_visible_focus(app_page):
    page = app_page
    controls = [page.get_by_role("radio", name="One digit"),
                page.get_by_role("radio", name="A number"),
                page.get_by_role("img", name=re.compile("^Drawing area")),
                page.get_by_role("button", name="Undo"),
                page.get_by_role("button", name="Clear"),
                page.get_by_role("button", name="Choose a photo"),
                page.get_by_role("button", name="Take a photo"),
                page.get_by_role("link", name="/docs")]
    for control in controls:
        expect(control).to_have_count(1)
    expect(page.get_by_role("group", name="Read as")).to_be_visible()
    expect(page.get_by_role("status")).to_be_visible()
    for name in ("Choose a photo", "Take a photo"):
        expect(page.get_by_role("button", name=name)).to_have_attribute("accept", "image/*")
    expect(page.get_by_role("button", name="Take a photo")).to_have_attribute("capture",
                                                                              "environment")
    page.keyboard.press("Tab")  # the first control: the digit / number switch
    expect(page.get_by_role("radio", name="One digit")).to_be_focused()
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"
    shoot(page, "focus")


def test_uploads_a_photo_with_the_keyboard_alone(app_page):
    page = app_page
    # Playwright asks Chromium to intercept file choosers without waiting for the answer (its
    # updateSubscription is fire-and-forget); subscribing only inside expect_file_chooser raced the
    # key press on a loaded CI machine and the native dialog opened instead. Subscribe first.
    page.on("filechooser", lambda chooser: None)
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "photo":
            break
    else:
        pytest.fail("Tab never reached the photo picker")
    label_outline = page.evaluate(
        "getComputedStyle(document.querySelector('label[for=photo]')).outlineStyle")
    assert label_outline == "solid"  # the focus shows on the button the picker looks like
    shoot(page, "keyboard_focus_on_picker")
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Space")
    chooser.value.set_files(PHOTOS / "Humor-Sans_4_0.jpg")
    expect_reading(page, "4")


@pytest.fixture
def phone(browser, live_server):
    context = browser.new_context(viewport={"width": 390, "height": 700}, device_scale_factor=2,
                                  is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(live_server)
    yield page
    context.close()


def touch_stroke(page, points) -> None:
    """A finger moving over the page, as the touchscreen sends it (CDP touch events)."""
    cdp = page.context.new_cdp_session(page)
    kinds = ["touchStart"] + ["touchMove"] * (len(points) - 1)
    for kind, (x, y) in zip(kinds, points):
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [{"x": x, "y": y}]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


def test_touch_drawing_on_a_phone_draws_and_does_not_scroll(phone):
    page = phone
    assert page.evaluate("document.documentElement.scrollHeight > innerHeight")  # can scroll
    page.evaluate("window.scrollTo(0, 60)")
    box = page.locator("#pad").bounding_box()
    x = box["x"] + box["width"] / 2
    # An upward finger stroke: on a page that pans with the finger, this scrolls down.
    points = [(x, box["y"] + box["height"] * (0.85 - 0.7 * i / 20)) for i in range(21)]
    touch_stroke(page, points)
    expect_reading(page, "1")
    assert page.evaluate("window.scrollY") == 60
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scroll
    shoot(page, "phone_touch_1")


def test_the_page_works_with_every_other_host_blocked(page, live_server):
    blocked = []

    def only_local(route):
        if route.request.url.startswith(live_server):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()
    page.route("**/*", only_local)
    page.goto(live_server)
    draw(page, SEVEN)
    expect_reading(page, "7")
    assert blocked == []  # the page asked for nothing outside the server
    shoot(page, "offline_7")


def test_a_doubtful_answer_is_flagged(app_page):
    """The page shows the API's low_confidence flag (the answer is the API's, made doubtful)."""
    page = app_page
    doubtful = {"path": "drawing.png", "digit": 2, "confidence": 0.41, "low_confidence": True,
                "top3": [{"digit": 2, "confidence": 0.41}, {"digit": 7, "confidence": 0.38},
                         {"digit": 1, "confidence": 0.1}], "error": None,
                "probabilities": [0.01, 0.1, 0.41, 0.02, 0.02, 0.02, 0.01, 0.38, 0.02, 0.01],
                "image": base64.b64encode(cv2.imencode(".png", np.zeros((28, 28), np.uint8))[1]
                                          .tobytes()).decode()}
    page.route("**/api/predict?*", lambda route: route.fulfill(json=doubtful))
    draw(page, [[(0.3, 0.5), (0.7, 0.5)]])
    expect(page.get_by_role("status")).to_have_text(
        "The model reads 2, 41% sure (low confidence).", timeout=15_000)
    expect(page.get_by_text("Low confidence: the model is not sure")).to_be_visible()
    shoot(page, "low_confidence")


def test_draws_a_number(app_page):
    page = app_page
    page.get_by_role("radio", name="A number").check()
    draw(page, [[(0.30, 0.25), (0.29, 0.75)],
                [(0.48, 0.27), (0.68, 0.27), (0.56, 0.75)]])
    expect_reading(page, "17")
    expect(page.locator("#digits li")).to_have_count(2)
    shoot(page, "drawn_17")


@pytest.fixture(scope="module")
def shipped_server():
    """`digits-serve --port 0` as a user starts it, with no model given: its URL."""
    process = subprocess.Popen([sys.executable, "-m", "digits.serve", "--port", "0"],
                               stderr=subprocess.PIPE, text=True)
    try:
        for line in process.stderr:
            if line.startswith("digits-serve: open "):
                yield line.split()[2]
                break
        else:
            pytest.fail("digits-serve printed no URL")
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
    finally:
        process.kill()
        process.stderr.close()


def readings_sent(page) -> list[str]:
    """The URLs of the readings the page asks for from now on (filled in as it asks)."""
    urls = []
    page.on("request", lambda request: urls.append(request.url)
            if "/api/predict?" in request.url else None)
    return urls


def test_mouse_drawn_digits_are_read_as_drawings(page, shipped_server):
    page.goto(shipped_server)
    sent = readings_sent(page)
    for name, strokes, digit in (("wide_7", WIDE_SEVEN, "7"), ("long_base_2", LONG_BASE_TWO, "2"),
                                 ("long_bar_4", LONG_BAR_FOUR, "4")):
        draw(page, strokes)
        expect_reading(page, digit)
        shoot(page, f"drawn_{name}")
        page.get_by_role("button", name="Clear").click()
    assert sent and all("source=drawing" in url for url in sent)


def test_number_mode_reads_the_number_photos_as_digits_predict_does(page, shipped_server,
                                                                    tmp_path):
    out = tmp_path / "numbers.json"
    result = run_cli("digits.predict", "--number", str(NUMBERS), "--json", str(out))
    assert result.returncode == 0, result.stderr
    expected = {Path(entry["path"]).name: entry for entry in json.loads(out.read_text())}
    with open(NUMBERS / "labels.csv") as file:
        names = [row["path"] for row in csv.DictReader(file)]
    assert sorted(expected) == sorted(names) and len(names) == 12
    page.goto(shipped_server)
    sent = readings_sent(page)
    page.get_by_role("radio", name="A number").check()
    for name in names:
        page.get_by_role("button", name="Choose a photo").set_input_files(NUMBERS / name)
        expect(page.locator("#photo-name")).to_have_text(name)
        expect_reading(page, expected[name]["number"])
        digits = page.locator("#digits li")
        expect(digits).to_have_count(len(expected[name]["number"]))
        for shown, digit in zip(digits.all_inner_texts(), expected[name]["digits"]):
            percent = float(re.search(r"([\d.]+)% sure", shown).group(1))
            assert shown.startswith(str(digit["digit"]))
            assert abs(percent - 100 * digit["confidence"]) <= 0.6  # as the page rounds it
        expect(page.get_by_role("img", name="The line the number reader saw")).to_be_visible()
    shoot(page, "number_reader_line")
    assert len(sent) == 12 and all("source=photo" in url for url in sent)
