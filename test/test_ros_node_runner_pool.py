"""node_runner's OncePool: a MultiThreadedExecutor's pool that never queues a task twice (rclpy issue 1452)."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from ros_testing import require_rclpy

rclpy = require_rclpy()

from selfpose_ros.ros.node_runner import OncePool, multi_threaded_executor  # noqa: E402


def test_a_queued_task_is_queued_once_runs_once_and_can_be_queued_again_after_it_started():
    pool = OncePool(ThreadPoolExecutor(1))
    gate, runs = threading.Event(), []
    blocker = pool.submit(gate.wait, 10.0)  # the only thread is busy: what comes next stays queued

    def task():
        runs.append(time.monotonic())

    first = pool.submit(task)
    assert first is not None
    assert pool.submit(task) is None and pool.submit(task) is None  # still queued: not queued again
    assert pool.skipped == 2
    gate.set()
    blocker.result(5.0)
    first.result(5.0)
    assert len(runs) == 1
    again = pool.submit(task)  # it ran: a new readiness is a new submission
    assert again is not None
    again.result(5.0)
    assert len(runs) == 2 and pool.skipped == 2
    other = pool.submit(lambda x: x * 2, 21)  # arguments pass through
    assert other.result(5.0) == 42
    pool.shutdown(wait=True)


def test_the_nodes_multi_threaded_executor_delivers_every_message():
    from std_msgs.msg import Int32

    rclpy.init()
    try:
        node = rclpy.create_node("once_pool_test")
        got = []
        node.create_subscription(Int32, "once_pool_numbers", lambda m: got.append(m.data), 500)
        pub = node.create_publisher(Int32, "once_pool_numbers", 500)
        executor = multi_threaded_executor(2)
        assert isinstance(executor._executor, OncePool)
        executor.add_node(node)
        deadline = time.monotonic() + 30.0
        while pub.get_subscription_count() < 1 and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
        for k in range(300):
            pub.publish(Int32(data=k))
        while len(got) < 300 and time.monotonic() < deadline:  # as run_node spins
            executor.spin_once(timeout_sec=0.1)
        assert sorted(got) == list(range(300))
        executor._executor.shutdown(wait=True)
        executor.shutdown()
        node.destroy_node()
    finally:
        rclpy.try_shutdown()


def test_other_pool_attributes_are_the_pools():
    inner = ThreadPoolExecutor(3)
    assert OncePool(inner)._max_workers == 3  # what rclpy or _stop_executor may read stays readable
    inner.shutdown()
