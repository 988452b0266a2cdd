#!/usr/bin/env python3
"""Drives the gateway's web console (/ui) in headless Chromium through Selenium.

Usage: console_check.py BASE_URL ARTIFACTS_DIR [--chromium PATH] [--chromedriver PATH]
                        [--timeout SECONDS] [--only NAME ...] [--api-key KEY]

Checks, each in a fresh page, each saving a screenshot (and the page's HTML on failure) into
ARTIFACTS_DIR:
  services  the services view lists `echo` with at least one live instance, queue depth per
            priority and running jobs; it refreshes itself, updating its rows in place; with
            jobs going through, `echo` shows a throughput above 0/s and `fail` an error rate of
            100 %; the rate arithmetic (instances that go away or miss a gather, an answer read
            twice) never gives a negative or inflated rate;
  progress  Try it on `slow` with wait=1 gets a 202, follows the job: its progress bar reaches
            100% and its state `succeeded`, its answer is shown;
  jobs      the jobs view (service and state filters) lists that job; clicking it opens its page;
  cancel    a running `slow` job cancelled from its page shows `cancelled`;
  replay    a `flaky` job that fails every attempt (respond-async) shows `failed`, its dead
            letter is listed, Replay from the console opens the new job, whose page links back;
  paging    the dead letters view, newest first a page at a time (`limit=1`): Older appends
            the next older dead letter;
  key       (only with --only key --api-key KEY, against a gateway with API keys) the console
            asks for the key, then lists services and follows a job's progress with it.
Every wait is an explicit WebDriverWait (no fixed sleeps). Prints one line per check; exits 0
when all pass, 1 otherwise, 2 when the browser cannot start at all. Needs selenium
(`python3 -m pip install selenium`), chromium and chromium-driver (Debian).
"""

import argparse
import json
import os
import re
import sys
import time
import traceback
import urllib.request

try:
    from selenium import webdriver
    from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError:  # pragma: no cover
    print("console_check: selenium is not installed (python3 -m pip install selenium)", file=sys.stderr)
    sys.exit(2)

JOB_HASH = re.compile(r"#/jobs/([0-9a-z]{26})$")


class Console:
    def __init__(self, driver, base, artifacts, timeout):
        self.driver = driver
        self.base = base.rstrip("/")
        self.artifacts = artifacts
        self.timeout = timeout

    def wait(self, condition, message, timeout=None):
        return WebDriverWait(self.driver, timeout or self.timeout, poll_frequency=0.2,
                             ignored_exceptions=[StaleElementReferenceException]).until(condition, message)

    def open(self, route):
        self.driver.get(f"{self.base}/ui#{route}")
        self.wait(lambda d: d.execute_script("return document.readyState") == "complete", f"page {route} did not load")

    def css(self, selector):
        return self.driver.find_element(By.CSS_SELECTOR, selector)

    # Read in one script each: the console replaces elements as it updates (no stale references).
    def text(self, selector):
        return self.driver.execute_script(
            "const e = document.querySelector(arguments[0]); return e ? e.textContent.trim() : null", selector)

    def attribute(self, selector, name):
        return self.driver.execute_script(
            "const e = document.querySelector(arguments[0]); return e ? e.getAttribute(arguments[1]) : null", selector, name)

    def job_in_hash(self, other_than=None):
        match = JOB_HASH.search(self.driver.current_url)
        if match and match.group(1) != other_than:
            return match.group(1)
        return False

    def state_is(self, *states):
        return lambda d: self.attribute("#job-state", "data-state") in states

    def post(self, path, body, headers=None):
        """A call to the API beside the browser (to make traffic); returns the status and headers."""
        request = urllib.request.Request(f"{self.base}{path}", data=body.encode(), method="POST",
                                         headers={"Content-Type": "application/json", **(headers or {})})
        if self.key:
            request.add_header("Authorization", f"Bearer {self.key}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.headers
        except urllib.error.HTTPError as error:
            return error.code, error.headers

    def get_json(self, path):
        request = urllib.request.Request(f"{self.base}{path}")
        if self.key:
            request.add_header("Authorization", f"Bearer {self.key}")
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def screenshot(self, name):
        path = os.path.join(self.artifacts, f"{name}.png")
        self.driver.save_screenshot(path)
        return path

    def submit(self, service, body, mode, wait=None):
        """Try it: submits a job; returns the job id the console navigated to (202)."""
        self.open(f"/try?service={service}")
        self.wait(lambda d: any(o.get_attribute("value") == service for o in d.find_elements(By.CSS_SELECTOR, "#try-service option")),
                  f"Try it does not offer {service}")
        Select(self.css("#try-service")).select_by_value(service)
        area = self.css("#try-body")
        area.clear()
        area.send_keys(body)
        if mode == "wait":
            self.css("#try-mode-wait").click()
            field = self.css("#try-wait")
            field.clear()
            field.send_keys(str(wait))
        else:
            self.css("#try-mode-async").click()
        self.css("#try-submit").click()
        return self.wait(lambda d: self.job_in_hash(), f"Try it on {service} did not open a job page (a 202 expected)")


def check_services(console):
    console.open("/services")
    row = 'tr[data-service="echo"]'

    def live_echo(driver):
        instances = console.text(f'{row} [data-test="instances"]')
        return instances is not None and instances.isdigit() and int(instances) >= 1

    console.wait(live_echo, "the services view does not list echo with a live instance")
    lane = console.text(f'{row} [data-test="lane"]')
    assert lane == "durable", f"echo's lane is {lane!r}"
    for column in ("queued-high", "queued-normal", "queued-low", "running"):
        value = console.text(f'{row} [data-test="{column}"]')
        assert value is not None and value.isdigit(), f"echo shows no {column} count ({value!r})"
    for column in ("throughput", "errors"):
        assert console.text(f'{row} [data-test="{column}"]'), f"echo has no {column} cell"
    # Refreshes update the rows in place: the row element stays the same one.
    console.driver.execute_script("window.echoRow = document.querySelector(arguments[0])", row)
    first = console.text("#services-updated")
    console.wait(lambda d: console.text("#services-updated") not in ("", first), "the services view does not refresh itself")
    assert console.driver.execute_script("return window.echoRow === document.querySelector(arguments[0]) && window.echoRow.isConnected", row), \
        "a refresh replaced echo's row instead of updating it"

    # Traffic: a job each to echo (succeeds) and fail (fails) per poll, until the rates show it.
    def rates_show_traffic(driver):
        console.post("/v1/jobs/echo", "{}")
        console.post("/v1/jobs/fail", json.dumps({"status": 422, "message": "counted"}))
        rate = console.text(f'{row} [data-test="throughput"]') or ""
        errors = console.text('tr[data-service="fail"] [data-test="errors"]') or ""
        echo_errors = console.text(f'{row} [data-test="errors"]') or ""
        return rate.endswith("/s") and float(rate[:-2].replace(",", "")) > 0 and errors == "100 %" and echo_errors == "0 %"

    console.wait(rates_show_traffic, "the services view shows no throughput for echo, or not 100 % errors for fail")
    rate = console.text(f'{row} [data-test="throughput"]')
    rates = check_rate_arithmetic(console)
    return f"echo {rate}, fail {console.text('tr[data-service=fail] [data-test=errors]')} errors; {rates}; {console.screenshot('services')}"


def check_rate_arithmetic(console):
    """The console's ServiceRates on made-up answers: two instances, one goes away, one misses a
    gather, one starts within the interval, an answer read twice."""
    results = console.driver.execute_script("""
        const rates = new ServiceRates();
        const t = Date.parse("2026-01-01T00:00:00Z");
        const answer = (seconds, instances) => ({ readAt: new Date(t + seconds * 1000).toISOString(),
            services: [{ name: "s", instances: instances.map(([id, requests, errors, started]) =>
                ({ id, num_requests: requests, num_errors: errors, started: new Date(t + (started ?? -100) * 1000).toISOString() })) }] });
        const rate = (result) => result === null ? null : (result.get("s") ?? "none");
        return [
            rate(rates.update(answer(0, [["a", 100, 0], ["b", 100, 0]]))),
            rate(rates.update(answer(2, [["a", 110, 1], ["b", 110, 0]]))),
            rate(rates.update(answer(2, [["a", 110, 1], ["b", 110, 0]]))),
            rate(rates.update(answer(4, [["a", 120, 1]]))),
            rate(rates.update(answer(6, [["a", 0, 0]]))),
            rate(rates.update(answer(8, [["a", 140, 1], ["c", 30, 3, 7]]))),
        ];""")
    expected = [
        "none",                                    # a first reading: nothing to compare
        {"perSecond": 10, "errorPercent": 5},      # 20 runs in 2 s, 1 failed
        None,                                      # the same answer again: nothing new
        {"perSecond": 5, "errorPercent": 0},       # b went away: a's 10 in 2 s, not negative
        "none",                                    # a missed the gather (zeros): no rate, not negative
        {"perSecond": 35, "errorPercent": 6},      # a: 20 in 4 s since its last reading; c started at 7 s: 30 in 1 s, 3 failed
    ]
    assert results == expected, f"ServiceRates gave {results}, expected {expected}"
    return "rate arithmetic ok"


def check_progress(console):
    job = console.submit("slow", json.dumps({"ms": 3000, "steps": 3}), "wait", wait=1)
    console.wait(lambda d: console.attribute("#job-progress", "aria-valuenow") == "100",
                 f"job {job}: the progress bar did not reach 100% (at {console.attribute('#job-progress', 'aria-valuenow')}%)")
    console.wait(console.state_is("succeeded"), f"job {job} did not show succeeded (shows {console.attribute('#job-state', 'data-state')})")
    width = console.attribute("#job-progress-bar", "style")
    assert "100%" in width, f"the bar's style is {width!r}"
    console.wait(lambda d: "slept_ms" in (console.text("#job-answer-body") or ""), f"job {job}: the answer is not shown")
    for item in ("created", "started", "attempts", "end"):
        assert console.driver.find_elements(By.CSS_SELECTOR, f'#job-timeline [data-test="{item}"]'), f"the timeline has no {item}"
    console.finished_slow_job = job
    events = console.attribute("#job-progress", "data-events") or "0"
    return f"job {job}, {events} live progress events, {console.screenshot('progress')}"


def check_jobs(console):
    job = getattr(console, "finished_slow_job", None)
    assert job, "no job from the progress check"
    console.open("/jobs?service=slow&state=succeeded")
    row = f'tr[data-job="{job}"]'
    console.wait(lambda d: console.text(f'{row} [data-test="state"]') == "succeeded", f"the jobs view does not list job {job} as succeeded")
    for column in ("service", "age", "duration", "attempts"):
        assert console.text(f'{row} [data-test="{column}"]'), f"job {job}'s row has no {column}"
    console.screenshot("jobs")
    console.css(row).click()
    console.wait(lambda d: console.job_in_hash() == job and console.attribute("#job-state", "data-state") == "succeeded",
                 f"clicking job {job}'s row did not open its page")
    return console.screenshot("jobs-click")


def check_cancel(console):
    job = console.submit("slow", json.dumps({"ms": 120000, "steps": 120}), "async")
    console.wait(console.state_is("running"), f"job {job} did not show running")
    console.wait(EC.element_to_be_clickable((By.CSS_SELECTOR, "#job-cancel")), "no Cancel button").click()
    console.wait(console.state_is("cancelled"), f"job {job} did not show cancelled (shows {console.attribute('#job-state', 'data-state')})")
    console.wait(lambda d: not console.css("#job-cancel").is_displayed(), "the Cancel button stays after the cancel")
    return console.screenshot("cancel")


def check_replay(console):
    job = console.submit("flaky", json.dumps({"failures": 9}), "async")
    console.wait(console.state_is("failed"), f"job {job} did not show failed (shows {console.attribute('#job-state', 'data-state')})")
    console.wait(EC.element_to_be_clickable((By.CSS_SELECTOR, "#job-dead-letters")), "no link to the dead letters").click()
    row = f'tr[data-job="{job}"]'
    # The dead letter is written after the job's end: reload the list until it is there.
    deadline = time.monotonic() + console.timeout
    while True:
        try:
            console.wait(lambda d: d.find_elements(By.CSS_SELECTOR, row), "", timeout=5)
            break
        except TimeoutException:
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job}'s dead letter is not listed")
            console.driver.refresh()
    error = console.text(f'{row} [data-test="error"]')
    assert error, "the dead letter shows no error"
    attempts = console.text(f'{row} [data-test="attempts"]')
    console.screenshot("dead-letters")
    console.css(f'{row} [data-test="replay"]').click()
    replayed = console.wait(lambda d: console.job_in_hash(other_than=job), "Replay did not open the new job")
    console.wait(lambda d: console.text("#job-replay-of") == job, f"job {replayed}'s page does not link back to {job}")
    console.screenshot("replayed-job")
    console.open(f"/dead-letters?job={job}")
    console.wait(lambda d: console.text(f'{row} [data-test="replayed-as"]') == replayed,
                 f"the dead letter does not show replayedAs {replayed}")
    console.screenshot("replayed-as")
    return f"job {job} (attempts {attempts}, error {error!r}) → {replayed}"


def check_paging(console):
    """Dead letters newest first, a page at a time: with `limit=1`, Older brings the next older one."""
    # At least two dead letters: the replay check made one; make another.
    status, headers = console.post("/v1/jobs/flaky", json.dumps({"failures": 9}), {"Prefer": "respond-async"})
    assert status == 202, f"submit flaky: {status}"
    job = headers.get("Baton-Job-Id")
    console.wait(lambda d: console.get_json(f"/v1/dead-letters?job={job}")["deadLetters"], f"job {job} was not dead-lettered")
    console.open("/dead-letters?limit=1")
    rows = '#dead-letters-body tr[data-test="dead-letter-row"]'
    sequences = lambda: [int(s) for s in console.driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map((r) => r.dataset.sequence)", rows)]
    console.wait(lambda d: len(sequences()) == 1, "the dead letters view does not show one dead letter")
    newest = sequences()[0]
    assert newest >= int(console.get_json(f"/v1/dead-letters?job={job}")["deadLetters"][0]["sequence"]), "the first row is not the newest"
    console.wait(EC.element_to_be_clickable((By.CSS_SELECTOR, "#dead-letters-older")), "no Older button").click()
    console.wait(lambda d: len(sequences()) == 2, "Older did not add the next dead letter")
    shown = sequences()
    assert shown[1] < shown[0], f"Older did not bring an older dead letter: {shown}"
    path = console.screenshot("dead-letters-paging")
    return f"sequences {shown}, {path}"


def enter_key(console):
    """Opens the console, which asks for a key (the API answers 401), and gives it --api-key."""
    assert console.key, "--api-key is needed for this check"
    console.open("/services")
    console.wait(lambda d: console.css("#key-form").is_displayed(), "the console does not ask for a key")
    console.css("#key-input").send_keys(console.key)
    console.css("#key-save").click()
    console.wait(lambda d: not console.css("#key-form").is_displayed(), "the key form stays")


def check_key(console):
    """A gateway with API keys: the console asks for one, then works with it (the job page reads
    its events through fetch, EventSource cannot send the key)."""
    enter_key(console)
    console.wait(lambda d: (console.text('tr[data-service="echo"] [data-test="instances"]') or "0") != "0",
                 "with the key, the services view does not list echo")
    console.screenshot("key-services")
    detail = check_progress(console)
    console.screenshot("key-progress")
    return detail


def check_isolation(console):
    """Two API keys: this key's console lists none of the other key's jobs (--hidden-job, one
    of them), and that job's page says it does not exist."""
    hidden = console.hidden_job
    assert hidden, "--hidden-job is needed for this check"
    enter_key(console)
    console.open("/jobs?service=slow")
    console.wait(lambda d: d.execute_script("return document.querySelectorAll('#jobs-body tr').length") > 0,
                 "the jobs view did not load (no rows, no 'No jobs.')")
    listed = console.driver.find_elements(By.CSS_SELECTOR, f'tr[data-job="{hidden}"]')
    assert not listed, f"the other key's job {hidden} is listed"
    console.screenshot("isolation-jobs")
    console.open(f"/jobs/{hidden}")
    console.wait(lambda d: console.css("#error").is_displayed() and "404" in (console.text("#error") or ""),
                 f"the other key's job {hidden} does not show as unknown")
    return console.screenshot("isolation-job")


CHECKS = {"services": check_services, "progress": check_progress, "jobs": check_jobs, "cancel": check_cancel, "replay": check_replay,
          "paging": check_paging}
# Only when asked for (--only key --api-key KEY), against a gateway with API keys.
OPTIONAL = {"key": check_key, "isolation": check_isolation}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("base")
    parser.add_argument("artifacts")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    parser.add_argument("--timeout", type=float, default=60)
    parser.add_argument("--only", nargs="*", choices=sorted(CHECKS) + sorted(OPTIONAL))
    parser.add_argument("--api-key")
    parser.add_argument("--hidden-job", help="isolation: a job of another key, which this key must not see")
    arguments = parser.parse_args()
    os.makedirs(arguments.artifacts, exist_ok=True)

    options = webdriver.ChromeOptions()
    options.binary_location = arguments.chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,900",
                 "--no-first-run", "--disable-extensions"):
        options.add_argument(flag)
    try:
        driver = webdriver.Chrome(service=Service(executable_path=arguments.chromedriver, log_output=os.path.join(arguments.artifacts, "chromedriver.log")),
                                  options=options)
    except Exception as error:  # noqa: BLE001
        print(f"console_check: cannot start chromium: {error}", file=sys.stderr)
        return 2
    driver.set_page_load_timeout(arguments.timeout)
    console = Console(driver, arguments.base, arguments.artifacts, arguments.timeout)
    console.key = arguments.api_key
    console.hidden_job = arguments.hidden_job
    failures = 0
    try:
        for name in arguments.only or list(CHECKS):
            started = time.monotonic()
            try:
                detail = {**CHECKS, **OPTIONAL}[name](console)
                print(f"ok   {name} ({time.monotonic() - started:.1f} s): {detail}", flush=True)
            except Exception as error:  # noqa: BLE001
                failures += 1
                print(f"FAIL {name} ({time.monotonic() - started:.1f} s): {error}", flush=True)
                traceback.print_exc(file=sys.stdout)
                try:
                    console.screenshot(f"{name}-failed")
                    with open(os.path.join(arguments.artifacts, f"{name}-failed.html"), "w") as page:
                        page.write(driver.page_source)
                    for entry in driver.get_log("browser"):
                        print(f"     browser: {entry.get('level')} {entry.get('message')}", flush=True)
                except Exception:  # noqa: BLE001
                    pass
    finally:
        driver.quit()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
