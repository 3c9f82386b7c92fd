"""custodes.media.probe: what a good clip reports, and every refusal, in one line."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import av
import av.logging
import numpy as np
import pytest

from custodes.core.errors import InvalidInput
from custodes.media.probe import TAIL_DECODE_LIMIT, probe, probe_report
from custodes.media.synth import write_bodycam_clip

from .conftest import small_clip

# -- files made from good ones ------------------------------------------------------------


def cut(src: Path, dst: Path, fraction: float) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


def overwrite(src: Path, dst: Path, at: float = 0.5, n: int = 4096, seed: int = 1) -> Path:
    """Random bytes over ``n`` bytes at ``at`` of the file (0.5: the middle)."""
    data = bytearray(src.read_bytes())
    start = int(len(data) * at)
    data[start : start + n] = np.random.default_rng(seed).bytes(n)
    dst.write_bytes(bytes(data))
    return dst


def without_sps(src: Path, dst: Path) -> Path:
    """An MP4 whose H.264 parameter set is gone and whose sample entry says 0x0.

    The avcC record keeps its layout but its SPS becomes a filler NAL unit, and the
    avc1 sample entry's width and height are zeroed: nothing tells the frame size.
    """
    data = bytearray(src.read_bytes())
    avc1 = data.find(b"avc1", data.find(b"stsd"))
    data[avc1 + 28 : avc1 + 32] = bytes(4)  # width, height (16 bits each)
    avcc = data.find(b"avcC")
    sps = avcc + 4 + 8  # after version, profile, compat, level, length size, count, length
    assert data[sps] & 0x1F == 7, "expected an SPS NAL unit"
    data[sps] = 0x6C  # filler data
    dst.write_bytes(bytes(data))
    return dst


def raw_h264(dst: Path) -> Path:
    """An H.264 elementary stream: decodable, but no container and no timestamps."""
    with av.open(str(dst), "w", format="h264") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for i in range(10):
            frame = av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return dst


def png(dst: Path) -> Path:
    frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 90, np.uint8), format="rgb24")
    with av.open(str(dst), "w", format="image2") as out:
        stream = out.add_stream("png", rate=1)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "rgb24"
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return dst


# -- good files ---------------------------------------------------------------------------


def test_good_mp4(good_mp4: Path) -> None:
    info = probe(good_mp4)
    assert (info.container, info.video_codec) == ("mp4", "h264")
    assert (info.width, info.height) == (320, 180)
    assert info.fps == pytest.approx(30.0)
    assert info.duration_s == pytest.approx(3.0, abs=0.1)
    assert info.frame_count == 90
    assert (info.audio_codec, info.audio_channels, info.audio_sample_rate) == ("aac", 1, 48000)
    assert info.creation_time is not None
    assert info.creation_time.startswith("2026-03-14T21:04:05")


def test_faststart_mp4_is_the_same_video(good_mp4: Path, faststart_mp4: Path) -> None:
    assert probe(faststart_mp4) == probe(good_mp4)


def test_clip_without_audio(silent_mp4: Path) -> None:
    info = probe(silent_mp4)
    assert (info.audio_codec, info.audio_channels, info.audio_sample_rate) == (None, None, None)
    assert info.creation_time is None
    assert info.duration_s == pytest.approx(2.0, abs=0.1)


def test_matroska(good_mkv: Path) -> None:
    info = probe(good_mkv)
    assert (info.container, info.video_codec) == ("matroska", "h264")
    assert (info.width, info.height, info.fps) == (320, 180, pytest.approx(30.0))
    assert info.duration_s == pytest.approx(3.0, abs=0.1)
    assert info.audio_codec == "aac"
    assert info.creation_time is not None


def test_quicktime_with_stereo(stereo_mov: Path) -> None:
    info = probe(stereo_mov)
    assert info.container == "mov"
    assert (info.width, info.height, info.fps) == (256, 144, pytest.approx(25.0))
    assert info.duration_s == pytest.approx(2.0, abs=0.1)
    assert (info.audio_channels, info.audio_sample_rate) == (2, 48000)


def test_probe_reads_every_packet_but_decodes_few_frames(long_mp4: Path) -> None:
    report = probe_report(long_mp4)
    assert report.info.frame_count == 240
    assert report.packets_read == 240
    assert report.bytes_read > 0
    # First frame (plus what the decoder held), three sampled keyframes, last GOP (30).
    assert 0 < report.frames_decoded <= 10 + TAIL_DECODE_LIMIT
    assert report.frames_decoded < report.info.frame_count / 3


def test_max_dim_is_honoured(good_mp4: Path) -> None:
    assert probe(good_mp4, max_dim=320).width == 320
    with pytest.raises(InvalidInput, match=r"320x180 exceeds the limit of 256 px a side"):
        probe(good_mp4, max_dim=256)


def test_ffmpeg_stays_quiet_and_logging_is_restored(
    good_mkv: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    before = av.logging.get_level(), av.logging.get_skip_repeated()
    for _ in range(2):  # twice: an identical FFmpeg line must not be swallowed the 2nd time
        with pytest.raises(InvalidInput, match="corrupt"):
            probe(overwrite(good_mkv, tmp_path / "bad.mkv"))
    assert (av.logging.get_level(), av.logging.get_skip_repeated()) == before
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")


# -- refusals -----------------------------------------------------------------------------

Make = Callable[[pytest.FixtureRequest, Path], Path]


def _from(fixture: str, change: Callable[[Path, Path], Path], name: str) -> Make:
    def make(request: pytest.FixtureRequest, tmp: Path) -> Path:
        return change(request.getfixturevalue(fixture), tmp / name)

    return make


def _write(name: str, data: bytes) -> Make:
    def make(request: pytest.FixtureRequest, tmp: Path) -> Path:
        (tmp / name).write_bytes(data)
        return tmp / name

    return make


RANDOM = np.random.default_rng(7).bytes(50_000)
NOTES = b"Officer's notes, 2026-03-14\n\nNothing to see on the camera.\n" * 30

REFUSALS: list[tuple[str, Make, str]] = [
    ("missing", lambda r, t: t / "nowhere.mp4", "nowhere.mp4: no such file"),
    ("directory", lambda r, t: t, "is a directory, not a video file"),
    ("empty", _write("empty.mp4", b""), "the file is empty (0 bytes)"),
    ("text", _write("notes.txt", NOTES), "looks like a text file, not a video"),
    ("text-named-mp4", _write("notes.mp4", NOTES), "looks like a text file, not a video"),
    ("png", lambda r, t: png(t / "still.png"), "a still image (png), not a video"),
    ("png-named-mp4", lambda r, t: png(t / "still.mp4"), "a still image (png), not a video"),
    ("random-bytes", _write("blob.bin", RANDOM), "not a recognised media file"),
    ("random-bytes-named-mp4", _write("blob.mp4", RANDOM), "truncated or is not a video"),
    ("audio-only", _from("audio_only_m4a", lambda s, d: s, "-"), "audio only (aac), no video"),
    ("raw-h264", lambda r, t: raw_h264(t / "raw.h264"), "format 'h264' is not a video container"),
    ("zero-size", _from("silent_mp4", without_sps, "nosps.mp4"), "frame size is unknown (0x0)"),
    (
        "too-small",
        lambda r, t: small_clip(t / "tiny.mp4", width=8, height=8, seconds=0.5, audio=False),
        "frame size 8x8 is too small (minimum 16 px a side)",
    ),
    ("mp4-cut-50", _from("good_mp4", lambda s, d: cut(s, d, 0.5), "c.mp4"), "truncated"),
    ("mp4-cut-90", _from("good_mp4", lambda s, d: cut(s, d, 0.9), "c.mp4"), "truncated"),
    ("faststart-cut-50", _from("faststart_mp4", lambda s, d: cut(s, d, 0.5), "c.mp4"), "truncated"),
    ("faststart-cut-90", _from("faststart_mp4", lambda s, d: cut(s, d, 0.9), "c.mp4"), "truncated"),
    ("mkv-cut-50", _from("good_mkv", lambda s, d: cut(s, d, 0.5), "c.mkv"), "truncated"),
    ("mkv-cut-90", _from("good_mkv", lambda s, d: cut(s, d, 0.9), "c.mkv"), "truncated"),
    ("mp4-corrupt", _from("good_mp4", overwrite, "x.mp4"), "corrupt"),
    ("faststart-corrupt", _from("faststart_mp4", overwrite, "x.mp4"), "corrupt"),
    ("mkv-corrupt", _from("good_mkv", overwrite, "x.mkv"), "corrupt"),
]


@pytest.mark.parametrize(
    ("make", "expected"), [(m, e) for _, m, e in REFUSALS], ids=[i for i, _, _ in REFUSALS]
)
def test_refusals_say_why_in_one_line(
    request: pytest.FixtureRequest, tmp_path: Path, make: Make, expected: str
) -> None:
    path = make(request, tmp_path)
    with pytest.raises(InvalidInput) as caught:
        probe(path)
    message = str(caught.value)
    assert expected in message
    assert message.startswith(f"{path.name}: ")
    assert "\n" not in message
    assert len(message) < 200
    assert caught.value.exit_code == 3


@pytest.mark.parametrize("fixture", ["good_mp4", "faststart_mp4", "good_mkv"])
@pytest.mark.parametrize("at", [0.3, 0.5, 0.7])
def test_random_bytes_anywhere_are_refused(
    request: pytest.FixtureRequest, tmp_path: Path, fixture: str, at: float
) -> None:
    src: Path = request.getfixturevalue(fixture)
    bad = overwrite(src, tmp_path / f"bad{src.suffix}", at=at, seed=int(at * 10))
    with pytest.raises(InvalidInput, match=r"corrupt|truncated"):
        probe(bad)


def test_ffmpeg_errors_are_chained(good_mp4: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="moov atom") as caught:
        probe(cut(good_mp4, tmp_path / "cut.mp4", 0.5))
    assert isinstance(caught.value.__cause__, av.error.FFmpegError)


def test_truncation_message_names_the_damage(
    faststart_mp4: Path, good_mkv: Path, tmp_path: Path
) -> None:
    # Where a cut lands (mid-packet or between packets) depends on the encoder's bytes,
    # which vary with threading: either way the message says where the damage is.
    with pytest.raises(
        InvalidInput, match=r"truncated(: the media ends at| data near) \d+\.\d\d s"
    ):
        probe(cut(faststart_mp4, tmp_path / "a.mp4", 0.5))
    with pytest.raises(InvalidInput, match="File ended prematurely"):
        probe(cut(good_mkv, tmp_path / "b.mkv", 0.5))


def test_odd_frame_rate_clip(tmp_path: Path) -> None:
    clip = write_bodycam_clip(
        tmp_path / "odd.mp4", seconds=1.0, width=176, height=144, fps=15, audio=False
    )
    info = probe(clip)
    assert (info.fps, info.frame_count) == (pytest.approx(15.0), 15)
    assert info.duration_s == pytest.approx(1.0, abs=0.1)


def test_staged_copy_is_named_as_the_user_knows_it(good_mp4: Path, tmp_path: Path) -> None:
    staged = tmp_path / "4242-x7b1.part"  # no video extension: probing goes by content
    staged.write_bytes(good_mp4.read_bytes())
    assert probe(staged, name="stop.mp4") == probe(good_mp4)
    cut(good_mp4, staged, 0.5)
    with pytest.raises(InvalidInput, match=r"^stop\.mp4: no MP4/MOV index"):
        probe(staged, name="stop.mp4")


def test_concurrent_probes_keep_their_own_verdicts(good_mkv: Path, tmp_path: Path) -> None:
    bad = overwrite(good_mkv, tmp_path / "bad.mkv")
    before = av.logging.get_level()

    def verdict(path: Path) -> str:
        try:
            probe(path)
        except InvalidInput as exc:
            return str(exc)
        return "ok"

    with ThreadPoolExecutor(4) as pool:
        verdicts = list(pool.map(verdict, [good_mkv, bad] * 6))
    assert verdicts[0::2] == ["ok"] * 6
    assert all(v.startswith("bad.mkv: corrupt data") for v in verdicts[1::2])
    assert av.logging.get_level() == before


@pytest.mark.parametrize(
    ("name", "codec", "container", "video_codec"),
    [
        ("clip.ts", "libx264", "mpegts", "h264"),
        ("clip.avi", "mpeg4", "avi", "mpeg4"),
        ("clip.webm", "libvpx", "matroska", "vp8"),
    ],
)
def test_other_containers_and_codecs(
    tmp_path: Path, name: str, codec: str, container: str, video_codec: str
) -> None:
    clip = write_bodycam_clip(
        tmp_path / name, seconds=1.0, width=160, height=96, audio=False, codec=codec
    )
    info = probe(clip)
    assert (info.container, info.video_codec, info.width, info.height) == (
        container,
        video_codec,
        160,
        96,
    )
    assert info.duration_s == pytest.approx(1.0, abs=0.1)


def test_where_a_fault_lies_is_never_before_the_start() -> None:
    from custodes.media.probe import _near

    assert _near(-0.02) == " near 0.00 s"
    assert _near(1.234) == " near 1.23 s"
    assert _near(None) == "" and _near(float("nan")) == ""


# -- damaged recordings, described rather than refused (probe(..., damaged=True)) ---------


@pytest.mark.parametrize(("fixture", "name"), [("faststart_mp4", "c.mp4"), ("good_mkv", "c.mkv")])
def test_a_truncated_recording_is_described_by_its_readable_part(
    request: pytest.FixtureRequest, tmp_path: Path, fixture: str, name: str
) -> None:
    src: Path = request.getfixturevalue(fixture)
    whole = probe(src)
    assert whole.damage is None and not whole.damaged
    damaged = cut(src, tmp_path / name, 0.5)
    with pytest.raises(InvalidInput, match="truncated"):
        probe(damaged)  # refused unless the caller keeps damaged recordings
    info = probe(damaged, damaged=True)
    assert info.damaged and info.damage is not None and info.damage.startswith("truncated")
    assert "\n" not in info.damage
    assert whole.frame_count is not None and info.frame_count is not None
    assert 0 < info.frame_count < whole.frame_count
    assert 0 < info.duration_s < whole.duration_s - 0.5
    assert info.declared_duration_s == pytest.approx(whole.duration_s, abs=0.1)
    assert info.readable() == f"0 to {info.duration_s:.2f} s ({info.frame_count} frames)"
    # Every frame of the readable part decodes.
    with av.open(str(damaged)) as c:
        decoded = sum(1 for f in c.decode(video=0) if f.time is not None)
    assert decoded >= info.frame_count


def test_a_faststart_mp4_cut_short_declares_its_frames(faststart_mp4: Path, tmp_path: Path) -> None:
    info = probe(cut(faststart_mp4, tmp_path / "c.mp4", 0.97), damaged=True)
    assert info.declared_frame_count == probe(faststart_mp4).frame_count
    assert info.frame_count is not None and info.frame_count < info.declared_frame_count


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda src, dst: cut(src, dst, 0.02), "truncated"),  # before any frame
        (lambda src, dst: dst.write_bytes(RANDOM) and dst, "is not a video"),
    ],
)
def test_no_readable_video_is_still_refused(
    faststart_mp4: Path, tmp_path: Path, make: Callable[[Path, Path], Path], needle: str
) -> None:
    with pytest.raises(InvalidInput, match=needle):
        probe(make(faststart_mp4, tmp_path / "x.mp4"), damaged=True)
