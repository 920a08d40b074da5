import threading
import time

import pytest

from recflow.offline.clock import ScaledClock, SimClock


def test_a_sim_clock_moves_only_when_the_pipeline_waits():
    # Given a simulated clock that does not sleep
    clock = SimClock(start=1000.0, scale=0)
    # When real time passes and then the pipeline waits 300 s
    time.sleep(0.01)
    before = clock.now()
    clock.advance(300)
    # Then only the wait moved it
    assert before == 1000.0
    assert clock.now() == 1300.0


def test_a_scaled_clock_runs_on_its_own_at_one_over_scale():
    # Given a clock where one real second is 1,000 simulated seconds
    clock = ScaledClock(start=0.0, scale=0.001)
    # When 50 ms of real time pass without any wait
    time.sleep(0.05)
    # Then about 50 simulated seconds have passed (sleep overshoots a little, never undershoots)
    assert 50 <= clock.now() < 150


def test_a_scaled_wait_sleeps_its_seconds_times_the_scale_and_moves_the_clock_by_them_once():
    # Given a clock where one real second is 10,000 simulated seconds
    clock = ScaledClock(start=0.0, scale=0.0001)
    # When the pipeline waits 600 simulated seconds
    started, before = time.monotonic(), clock.now()
    clock.advance(600)
    real, simulated = time.monotonic() - started, clock.now() - before
    # Then it slept about 60 ms and the clock moved by the wait, not by twice the wait
    assert 0.06 <= real < 0.2
    assert 600 <= simulated < 2000


def test_parallel_waits_overlap_on_a_scaled_clock():
    # Given a scaled clock and two branches that each wait 500 simulated seconds at once
    clock = ScaledClock(start=0.0, scale=0.0001)
    branches = [threading.Thread(target=clock.advance, args=(500,)) for _ in range(2)]
    # When both run
    for branch in branches:
        branch.start()
    for branch in branches:
        branch.join()
    # Then less than both waits together have passed, as on AWS
    assert 500 <= clock.now() < 1000


def test_a_scaled_clock_needs_a_positive_scale():
    with pytest.raises(ValueError, match="more than 0"):
        ScaledClock(scale=0)
