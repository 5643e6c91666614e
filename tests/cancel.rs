//! Cancellation of pixel jobs: a job whose [`Cancel`] token is cancelled stops with
//! `ProcessError::Cancelled`, frees its thread promptly and gives its memory back; a token
//! cancelled before the job starts stops it before anything is decoded.
//!
//! Every heavy job runs on its own thread for about 200 ms (the test fails if it finished
//! sooner, since it would then show nothing), is cancelled, and must return having used at
//! most [`CPU_AFTER_CANCEL`] of user CPU time after the cancel (read from `/proc` on Linux), and
//! within [`WALL_AFTER_CANCEL`] of wall-clock time, a bound loose enough for a loaded machine
//! where the thread waits for a core. The jobs run one at a time (a lock), so that they do
//! not compete with each other for the cores and for memory.

use std::alloc::System;
use std::io::Cursor;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use cap::Cap;
use image::codecs::gif::{GifEncoder, Repeat};
use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{Delay, Frame, ImageEncoder, RgbaImage};
use imagor_tower::path::{self, Params};
use imagor_tower::processing::{Cancel, Options, ProcessError, metadata, process, process_color};

/// Counts live heap bytes, to show that a cancelled job gives its buffers back.
#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

/// How long a job runs before it is cancelled.
const RUN_FOR: Duration = Duration::from_millis(200);

/// The goal: a cancelled job stops within 100 ms of work. (The jobs themselves would run for
/// seconds to hours.)
///
/// This is user time, the work of our own code. The kernel's time for the thread (faulting in
/// and giving back the pages of its buffers) is not counted here: on a machine whose memory
/// is busy with other work, such as a parallel build, freeing a few hundred megabytes alone
/// can take more than this, however promptly the job stops. That time is bounded by
/// [`WALL_AFTER_CANCEL`] instead.
const CPU_AFTER_CANCEL: Duration = Duration::from_millis(100);

/// Wall-clock bound between the cancel and the job's return: the goal, with slack for a
/// two-core machine shared with other builds, where a runnable thread can wait for a core.
const WALL_AFTER_CANCEL: Duration = Duration::from_secs(1);

/// This thread's id under `/proc/self/task` (Linux); `None` elsewhere.
fn current_task() -> Option<String> {
    let link = std::fs::read_link("/proc/thread-self").ok()?;
    link.file_name()?.to_str().map(str::to_owned)
}

/// The user CPU time the thread `task` has used, from `/proc/self/task/<task>/stat` in clock
/// ticks of 10 ms.
fn thread_cpu(task: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{task}/stat")).ok()?;
    // The fields after the command name: state is the first, utime the 12th, stime the 13th.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let user: u64 = fields.get(11)?.parse().ok()?;
    Some(Duration::from_millis(user * 10))
}

/// One heavy job at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs `job` on a thread with a fresh token in its options (the caller holds [`serial`]
/// from before it makes the job's input), cancels the token after
/// [`RUN_FOR`], and checks that the job answers `Cancelled` within [`CPU_AFTER_CANCEL`] of
/// user CPU time and [`WALL_AFTER_CANCEL`] of wall-clock time, and that its memory is given back.
fn stops_promptly<T: Send + 'static>(
    name: &str,
    job: impl FnOnce(Options) -> Result<T, ProcessError> + Send + 'static,
) {
    let before = ALLOCATOR.allocated();
    let token = Cancel::new();
    // The work budget would refuse these heavy jobs before they start; here they must run.
    let options = Options::default()
        .work_budget(u64::MAX)
        .cancel(token.clone());
    let (done, finished) = mpsc::channel();
    let (started, task) = mpsc::channel();
    let worker = thread::spawn(move || {
        let task = current_task();
        let _ = started.send(task.clone());
        let result = job(options);
        // Sent after the job's buffers are dropped: `job` has returned.
        let cpu = task.as_deref().and_then(thread_cpu);
        let _ = done.send((Instant::now(), cpu));
        result
    });
    let task = task.recv().expect("the worker starts");
    match finished.recv_timeout(RUN_FOR) {
        Err(RecvTimeoutError::Timeout) => {}
        other => {
            let result = worker.join().map(|result| result.err());
            panic!("{name}: finished within {RUN_FOR:?} ({other:?}, {result:?}): not heavy enough")
        }
    }
    let peak = ALLOCATOR.allocated();
    let cpu_at_cancel = task.as_deref().and_then(thread_cpu);
    let cancelled_at = Instant::now();
    token.cancel();
    let (stopped_at, cpu_at_stop) = finished
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("{name}: still running a minute after the cancel"));
    let result = worker.join().expect("the job does not panic");
    let took = stopped_at.duration_since(cancelled_at);
    assert!(
        matches!(&result, Err(ProcessError::Cancelled)),
        "{name}: {:?}",
        result.err()
    );
    assert!(
        took <= WALL_AFTER_CANCEL,
        "{name}: stopped {took:?} after the cancel"
    );
    let cpu = cpu_at_stop
        .zip(cpu_at_cancel)
        .map(|(stop, cancel)| stop.saturating_sub(cancel));
    if let Some(cpu) = cpu {
        assert!(
            cpu <= CPU_AFTER_CANCEL,
            "{name}: used {cpu:?} of user CPU after the cancel"
        );
    }
    // The job held its buffers when it was cancelled, and gave them all back.
    let after = ALLOCATOR.allocated();
    assert!(
        peak > before + (1 << 20),
        "{name}: {peak} bytes at the cancel"
    );
    assert!(
        after < before + (1 << 20),
        "{name}: {} bytes still held after the cancel",
        after.saturating_sub(before)
    );
    eprintln!(
        "{name}: stopped {took:?} after the cancel ({cpu:?} of user CPU), {peak} bytes held then"
    );
}

/// A `width × height` RGB PNG with a pattern that does not compress to nothing.
fn big_png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 251) as u8, (y % 241) as u8, ((x ^ y) % 239) as u8])
    });
    let mut bytes = Vec::new();
    PngEncoder::new_with_quality(&mut bytes, CompressionType::Fast, FilterType::Sub)
        .write_image(
            image.as_raw(),
            width,
            height,
            image::ExtendedColorType::Rgb8,
        )
        .expect("encode the test PNG");
    bytes
}

/// An animated GIF of `count` noisy `width × height` frames.
fn animated_gif(count: u32, width: u32, height: u32) -> Vec<u8> {
    let mut bytes = Vec::new();
    {
        let mut encoder = GifEncoder::new_with_speed(Cursor::new(&mut bytes), 30);
        encoder.set_repeat(Repeat::Infinite).expect("repeat");
        for index in 0..count {
            let frame = RgbaImage::from_fn(width, height, |x, y| {
                let v = x.wrapping_mul(31) ^ y.wrapping_mul(17) ^ index.wrapping_mul(97);
                image::Rgba([v as u8, (v >> 3) as u8, (v >> 6) as u8, 255])
            });
            let delay = Delay::from_numer_denom_ms(40, 1);
            encoder
                .encode_frame(Frame::from_parts(frame, 0, 0, delay))
                .expect("encode a frame");
        }
    }
    bytes
}

#[test]
fn a_token_cancelled_before_the_start_stops_before_decoding() {
    let _one_at_a_time = serial();
    let token = Cancel::new();
    token.cancel();
    let options = Options::default().cancel(token);
    // Not an image at all: decoding would answer `UnsupportedFormat`.
    let garbage = b"definitely not an image".as_slice();
    let params = Params::default();
    assert!(matches!(
        process(garbage, &params, &options),
        Err(ProcessError::Cancelled)
    ));
    assert!(matches!(
        metadata(garbage, &params, &options),
        Err(ProcessError::Cancelled)
    ));
    // Not even the canvas of a colour source is allocated.
    let before = ALLOCATOR.allocated();
    let started = Instant::now();
    let huge = path::parse("unsafe/9000x9000/filters:blur(100)/color:red");
    assert!(matches!(
        process_color(&huge, &options),
        Err(ProcessError::Cancelled)
    ));
    assert!(started.elapsed() < Duration::from_millis(50));
    assert!(ALLOCATOR.allocated() < before + (1 << 20));
}

#[test]
fn a_live_token_changes_nothing() {
    let _one_at_a_time = serial();
    let params = path::parse("unsafe/300x200/filters:blur(3):sharpen(1,1,true):rotate(90)/x.png");
    let source = big_png(640, 480);
    let plain = process(&source, &params, &Options::default()).expect("plain");
    let live = Options::default().cancel(Cancel::new());
    let with_token = process(&source, &params, &live).expect("with a live token");
    assert_eq!(plain.bytes(), with_token.bytes());
}

#[test]
fn blur_and_sharpen_on_a_big_colour_canvas_stop() {
    let _one_at_a_time = serial();
    // Hours of CPU without cancellation.
    let params =
        path::parse("unsafe/6000x6000/filters:blur(200):sharpen(100,50,true):blur(200)/color:red");
    stops_promptly("blur and sharpen", move |options| {
        process_color(&params, &options)
    });
}

#[test]
fn sharpen_stops() {
    let _one_at_a_time = serial();
    let params = path::parse("unsafe/3000x3000/filters:sharpen(100,60,true)/color:red");
    stops_promptly("sharpen", move |options| process_color(&params, &options));
}

#[test]
fn decoding_and_resizing_a_big_png_stop() {
    let _one_at_a_time = serial();
    let source = big_png(8000, 6000);
    let params = path::parse("unsafe/400x300/big.png");
    stops_promptly("big PNG resize", move |options| {
        process(&source, &params, &options)
    });
}

#[test]
fn text_stops() {
    let _one_at_a_time = serial();
    let params = path::parse(
        "unsafe/4000x4000/filters:fill(white):text(imagor%20tower,repeat,repeat,sans-bold-900,red,30):\
         text(cancel%20me,repeat,repeat,serif-900,blue,30,multiply)/color:white",
    );
    stops_promptly("text", move |options| process_color(&params, &options));
}

#[test]
fn animated_gif_encoding_stops_between_frames() {
    let _one_at_a_time = serial();
    // The limits allow 9999 rows of frames in all: 24 frames of 400 rows.
    let source = animated_gif(24, 1500, 400);
    let params = path::parse("unsafe/filters:format(gif)/anim.gif");
    stops_promptly("animated GIF", move |options| {
        process(&source, &params, &options)
    });
}

#[test]
fn nested_image_overlays_share_the_token() {
    let _one_at_a_time = serial();
    let params = path::parse(
        "unsafe/800x800/filters:image(/unsafe/5000x5000/filters:blur(150)/color:blue,0,0)/color:red",
    );
    stops_promptly("nested image()", move |options| {
        process_color(&params, &options)
    });
}
