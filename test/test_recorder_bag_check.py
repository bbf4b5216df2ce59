"""The quick bag check (before train/predict/eval), repaired temporary copies, the writer lock and the output-folder
check of ~/start, without ROS: real bags written by the recorder's CrashSafeBag, real files and folders."""

import errno
import os
import shutil
import subprocess
import sys

import pytest
from rosbags.rosbag2 import Reader

from selfpose_ros.data.typestore import get_typestore
from selfpose_ros.recording import output_dir
from selfpose_ros.recording.bag_check import BagCheckError, check_bag, checked_bags
from selfpose_ros.recording.bag_writer import CrashSafeBag
from selfpose_ros.recording.output_dir import OutputDirError, check_output_dir
from selfpose_ros.recording.writer_lock import held_by_writer

STORE = get_typestore()
T0 = 1_700_000_000 * 1_000_000_000


def string_cdr(text):
    return bytes(STORE.serialize_cdr(STORE.types["std_msgs/msg/String"](data=text), "std_msgs/msg/String"))


def open_bag(path, n=6):
    """A bag still being written: n messages, the first half flushed, metadata.yaml marked incomplete."""
    bag = CrashSafeBag(path)
    bag.open()
    for k in range(n):
        bag.write("/trajectory/keyframe", "std_msgs/msg/String", string_cdr(str(k)), T0 + k)
        if k == n // 2 - 1:
            bag.flush_chunk()
    bag.refresh_metadata()
    return bag


def killed_copy(bag, dst):
    """What SIGKILL leaves: the files as they are on disk right now."""
    shutil.copytree(bag.path, dst)
    return dst


def test_states_of_complete_incomplete_and_broken_bags(tmp_path):
    live = open_bag(tmp_path / "live")
    killed = killed_copy(live, tmp_path / "killed")
    live.close()
    assert check_bag(live.path).ok
    s = check_bag(killed)
    assert s.state == "incomplete" and "marks it incomplete" in s.reason and "without its MCAP footer" in s.reason
    assert s.line().startswith(f"bag {killed} is incomplete (") and f"`selfpose bag-repair {killed}`" in s.line()
    assert check_bag(tmp_path / "nowhere").state == "missing"
    no_meta = killed_copy(live, tmp_path / "no_meta")
    (no_meta / "metadata.yaml").unlink()
    assert check_bag(no_meta).state == "incomplete" and "metadata.yaml is missing" in check_bag(no_meta).reason
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "metadata.yaml").write_text("rosbag2_bagfile_information: [")
    assert check_bag(garbage).state == "unreadable"
    mcap_file = next(live.path.glob("*.mcap"))
    assert check_bag(mcap_file).ok  # a bare .mcap file, as eval accepts
    assert check_bag(next(killed.glob("*.mcap"))).state == "incomplete"


def test_checked_bags_one_line_per_bad_bag_or_repaired_copies(tmp_path):
    live = open_bag(tmp_path / "a")
    bad1 = killed_copy(live, tmp_path / "b")
    bad2 = killed_copy(live, tmp_path / "c")
    live.close()
    with pytest.raises(BagCheckError) as err:
        checked_bags([live.path, bad1, bad2, tmp_path / "gone"])
    assert err.value.lines[0].startswith(f"bag {bad1} is incomplete") and err.value.lines[1].startswith(f"bag {bad2}")
    assert err.value.lines[2] == f"bag {tmp_path / 'gone'} does not exist" and len(err.value.lines) == 3
    work = tmp_path / "work"
    work.mkdir()
    paths = checked_bags([live.path, bad1], repair=True, workdir=work)
    assert paths[0] == live.path and paths[1].parent == work
    with Reader(paths[1]) as reader:
        assert [STORE.deserialize_cdr(raw, c.msgtype).data for c, _, raw in reader.messages()] == ["0", "1", "2"]
    assert check_bag(bad1).state == "incomplete"  # the original is untouched


def test_writer_lock_is_held_while_open_and_gone_after_close_or_kill(tmp_path):
    live = open_bag(tmp_path / "x")
    mcap = live.mcap_path
    script = f"from selfpose_ros.recording.writer_lock import held_by_writer; print(held_by_writer({str(mcap)!r}))"

    def other_process_sees():
        return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True).stdout.strip()

    assert held_by_writer(mcap) and other_process_sees() == "True"
    live.close()
    assert not held_by_writer(mcap) and other_process_sees() == "False"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\n"
                               "from selfpose_ros.recording.bag_writer import CrashSafeBag\n"
                               f"b = CrashSafeBag({str(tmp_path / 'y')!r}); b.open(); print('open', flush=True)\n"
                               "time.sleep(600)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        assert held_by_writer(tmp_path / "y" / "y.mcap")
    finally:
        holder.kill()  # SIGKILL: the kernel drops the lock
        holder.wait()
    assert not held_by_writer(tmp_path / "y" / "y.mcap")


def test_output_dir_check(tmp_path):
    free = check_output_dir(tmp_path / "new" / "dir", 0)
    assert free > 0 and (tmp_path / "new" / "dir").is_dir() and not list((tmp_path / "new" / "dir").iterdir())
    with pytest.raises(OutputDirError, match="less than min_free_space_mb"):
        check_output_dir(tmp_path, free + 10**15)
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputDirError, match="cannot create output_dir"):
        check_output_dir(tmp_path / "file" / "sub", 0)
    with pytest.raises(OutputDirError, match="cannot create output_dir"):
        check_output_dir("/proc/selfpose_cannot_write_here", 0)


def test_output_dir_check_on_a_full_disk(tmp_path, monkeypatch):
    """A full disk as the probe write sees it (ENOSPC), where no small file system can be mounted here."""

    def full(folder, size):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(output_dir, "_write_probe", full)
    with pytest.raises(OutputDirError, match="is not writable: the disk is full"):
        check_output_dir(tmp_path, 0)
