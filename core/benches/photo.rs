//! A 12 MP camera JPEG to the stored 1600 px JPEG plus a 320 px thumbnail.
//!
//! Budget: `photo/process_12mp` <= 150 ms median on one core (process_photo is single-threaded).
//! `photo/image_crate_baseline_12mp` does the same job with the `image` crate, for comparison.
//! `photo/process_12mp_rotated` adds EXIF orientation 6, as a phone held upright writes.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use gridpatrol_core::photo::{PhotoLimits, process_photo};
use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;

const WIDTH: u32 = 4000;
const HEIGHT: u32 = 3000;

/// Something photo-like: smooth gradients and a few soft shapes under per-pixel noise, so the encoder
/// and decoder see realistic entropy (a flat image would flatter both).
fn photo_like_rgb(width: u32, height: u32) -> Vec<u8> {
    let mut state = 0x9e37_79b9_u32;
    let mut rgb = Vec::with_capacity(width as usize * height as usize * 3);
    for y in 0..height {
        for x in 0..width {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let noise = (state >> 24) as i32 / 8 - 16; // -16..=15
            let (fx, fy) = (x as f32 / width as f32, y as f32 / height as f32);
            let wave = ((fx * 37.0).sin() * (fy * 23.0).cos() * 40.0) as i32;
            let base = [
                (fx * 180.0) as i32 + 40,
                (fy * 160.0) as i32 + 50 + wave,
                ((1.0 - fx) * fy * 200.0) as i32 + 30 - wave,
            ];
            rgb.extend(base.map(|c| (c + noise).clamp(0, 255) as u8));
        }
    }
    rgb
}

fn camera_jpeg() -> Vec<u8> {
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 90)
        .encode(
            &photo_like_rgb(WIDTH, HEIGHT),
            WIDTH as u16,
            HEIGHT as u16,
            jpeg_encoder::ColorType::Rgb,
        )
        .expect("encode the bench input");
    out
}

/// `jpeg` with a minimal EXIF APP1 holding only Orientation = 6.
fn with_orientation_6(jpeg: &[u8]) -> Vec<u8> {
    let mut tiff = b"II*\0\x08\0\0\0".to_vec();
    tiff.extend_from_slice(&[1, 0]); // one entry
    tiff.extend_from_slice(&[0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0]); // Orientation SHORT 1 = 6
    tiff.extend_from_slice(&[0; 4]); // no next IFD
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((8 + tiff.len()) as u16).to_be_bytes());
    out.extend_from_slice(b"Exif\0\0");
    out.extend_from_slice(&tiff);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// The same job with the `image` crate: decode, Lanczos3 to 1600, Lanczos3 to 320 from that, encode both.
fn image_crate_pipeline(input: &[u8], quality: u8) -> (Vec<u8>, Vec<u8>) {
    let source = image::load_from_memory(input).expect("decode");
    let full = source.resize(1600, 1600, FilterType::Lanczos3);
    let thumb = full.resize(320, 320, FilterType::Lanczos3);
    let encode = |img: &image::DynamicImage| {
        let mut out = Vec::new();
        img.write_with_encoder(JpegEncoder::new_with_quality(&mut out, quality))
            .expect("encode");
        out
    };
    (encode(&full), encode(&thumb))
}

fn bench_photo(c: &mut Criterion) {
    let input = camera_jpeg();
    let rotated = with_orientation_6(&input);
    let limits = PhotoLimits::default();

    let mut group = c.benchmark_group("photo");
    // Flat sampling suits iterations this long (0.1 to 0.4 s) and keeps the run under a minute.
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    group.bench_function("process_12mp", |b| {
        b.iter(|| process_photo(black_box(&input), &limits).expect("process"))
    });
    group.bench_function("process_12mp_rotated", |b| {
        b.iter(|| process_photo(black_box(&rotated), &limits).expect("process"))
    });
    group.measurement_time(Duration::from_secs(8));
    group.bench_function("image_crate_baseline_12mp", |b| {
        b.iter(|| image_crate_pipeline(black_box(&input), limits.jpeg_quality))
    });
    group.finish();
}

criterion_group!(benches, bench_photo);
criterion_main!(benches);
