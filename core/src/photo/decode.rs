//! Format sniffing and decoding to RGB8, with the pixel budget enforced from the header alone.

use std::io::Cursor;

use png::{BitDepth, ColorType, Transformations};
use zune_jpeg::JpegDecoder;
use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;

use super::{PhotoError, Rgb8, SourceFormat};

/// A decoded source: pixels as stored (EXIF orientation not yet applied) plus the raw EXIF (TIFF)
/// bytes, if any.
#[derive(Debug)]
pub(crate) struct Decoded {
    pub(crate) image: Rgb8,
    pub(crate) format: SourceFormat,
    pub(crate) exif: Option<Vec<u8>>,
}

const JPEG_MAGIC: &[u8] = &[0xFF, 0xD8, 0xFF];
const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";

/// Decodes a JPEG or PNG, refusing more than `max_pixels` before allocating the pixel buffer.
pub(crate) fn decode(input: &[u8], max_pixels: u64) -> Result<Decoded, PhotoError> {
    if input.starts_with(JPEG_MAGIC) {
        decode_jpeg(input, max_pixels)
    } else if input.starts_with(PNG_MAGIC) {
        decode_png(input, max_pixels)
    } else {
        Err(PhotoError::NotAnImage)
    }
}

fn corrupt(e: impl std::fmt::Display) -> PhotoError {
    PhotoError::Corrupt(e.to_string())
}

fn check_pixels(width: u32, height: u32, limit: u64) -> Result<(), PhotoError> {
    if u64::from(width) * u64::from(height) > limit {
        return Err(PhotoError::TooManyPixels {
            width,
            height,
            limit,
        });
    }
    Ok(())
}

fn decode_jpeg(input: &[u8], max_pixels: u64) -> Result<Decoded, PhotoError> {
    // Not zune's strict mode: it refuses photos with harmless quirks (padding between segments) that
    // every viewer shows, yet still misses a cut in the last row of blocks. Truncation is caught below.
    let options = DecoderOptions::default()
        // zune converts CMYK and YCCK to RGB itself; grayscale comes out as Luma whatever we ask.
        .jpeg_set_out_colorspace(ColorSpace::RGB)
        // zune's own default cap is 16384 a side; our pixel budget is the real limit, so open it up to
        // what JPEG can express.
        .set_max_width(usize::from(u16::MAX))
        .set_max_height(usize::from(u16::MAX));
    let mut decoder = JpegDecoder::new_with_options(input, options);
    decoder.decode_headers().map_err(corrupt)?;

    let (width, height) = decoder
        .dimensions()
        .ok_or_else(|| corrupt("no frame header"))?;
    let width = u32::try_from(width).map_err(corrupt)?;
    let height = u32::try_from(height).map_err(corrupt)?;
    check_pixels(width, height, max_pixels)?;

    let layout = match decoder.get_output_colorspace() {
        Some(ColorSpace::RGB) => Layout::Rgb,
        Some(ColorSpace::Luma) => Layout::Gray,
        other => {
            return Err(corrupt(format!(
                "cannot convert JPEG colour space {other:?} to RGB"
            )));
        }
    };
    let size = decoder
        .output_buffer_size()
        .ok_or_else(|| corrupt("image size overflows"))?;
    let mut data = vec![0; size];
    decoder.decode_into(&mut data).map_err(corrupt)?;
    // zune fills missing data with grey instead of failing, and a half-missing photo must not become
    // case evidence.
    check_jpeg_ends(input)?;
    to_rgb8(&mut data, layout, pixel_count(width, height))?;

    Ok(Decoded {
        image: Rgb8 {
            data,
            width,
            height,
        },
        format: SourceFormat::Jpeg,
        exif: decoder.exif().cloned(),
    })
}

fn decode_png(input: &[u8], max_pixels: u64) -> Result<Decoded, PhotoError> {
    let mut decoder = png::Decoder::new(Cursor::new(input));
    // Palette and low bit depths expand to 8 bits a sample, 16-bit samples drop their low byte.
    decoder.set_transformations(Transformations::normalize_to_color8());

    let header = decoder.read_header_info().map_err(corrupt)?;
    check_pixels(header.width, header.height, max_pixels)?;

    let mut reader = decoder.read_info().map_err(corrupt)?;
    let mut data = vec![0; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut data).map_err(corrupt)?;
    if frame.bit_depth != BitDepth::Eight {
        return Err(corrupt(format!(
            "unexpected {:?} output after normalising",
            frame.bit_depth
        )));
    }
    let layout = match frame.color_type {
        ColorType::Grayscale => Layout::Gray,
        ColorType::GrayscaleAlpha => Layout::GrayAlpha,
        ColorType::Rgb => Layout::Rgb,
        ColorType::Rgba => Layout::Rgba,
        ColorType::Indexed => return Err(corrupt("palette was not expanded")),
    };
    let (width, height) = (frame.width, frame.height);
    to_rgb8(&mut data, layout, pixel_count(width, height))?;

    // The png crate does not keep eXIf (as of 0.17), so fetch the chunk ourselves.
    let exif = png_chunk(input, b"eXIf").map(<[u8]>::to_vec);
    Ok(Decoded {
        image: Rgb8 {
            data,
            width,
            height,
        },
        format: SourceFormat::Png,
        exif,
    })
}

fn pixel_count(width: u32, height: u32) -> usize {
    width as usize * height as usize
}

/// Refuses a JPEG whose marker stream stops before EOI, i.e. a truncated file.
///
/// Walks the segments from SOI, skipping each by its length (so an EXIF thumbnail's own EOI inside APP1
/// does not count) and scanning through entropy-coded data, where 0xFF is always followed by a stuffed
/// 0x00 or a restart marker. Anything after EOI (MPF images, vendor trailers) is ignored.
fn check_jpeg_ends(input: &[u8]) -> Result<(), PhotoError> {
    let truncated = || corrupt("the JPEG ends before its end-of-image marker");
    let mut pos = 2;
    loop {
        let code_at = next_jpeg_marker(input, pos).ok_or_else(truncated)?;
        match input[code_at] {
            0xD9 => return Ok(()),
            // TEM has no length. (Restart markers are skipped by the scan.)
            0x01 => pos = code_at + 1,
            _ => {
                let len = input.get(code_at + 1..code_at + 3).ok_or_else(truncated)?;
                pos = code_at + 1 + usize::from(u16::from_be_bytes([len[0], len[1]]));
            }
        }
    }
}

/// Index of the code byte of the next marker at or after `from`, skipping fill bytes, stuffed zeros and
/// restart markers.
fn next_jpeg_marker(input: &[u8], from: usize) -> Option<usize> {
    let mut pos = from;
    loop {
        let ff = pos + input.get(pos..)?.iter().position(|&b| b == 0xFF)?;
        let mut code_at = ff + 1;
        while input.get(code_at) == Some(&0xFF) {
            code_at += 1;
        }
        match *input.get(code_at)? {
            0x00 | 0xD0..=0xD7 => pos = code_at + 1,
            _ => return Some(code_at),
        }
    }
}

/// The data of the first PNG chunk of type `kind`, walking chunk headers only.
fn png_chunk<'a>(input: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    let mut pos = PNG_MAGIC.len();
    loop {
        let header = input.get(pos..pos + 8)?;
        let len = usize::try_from(u32::from_be_bytes([
            header[0], header[1], header[2], header[3],
        ]))
        .ok()?;
        let data = input.get(pos + 8..pos + 8 + len)?;
        match &header[4..8] {
            t if t == kind => return Some(data),
            b"IEND" => return None,
            _ => pos += 8 + len + 4, // header, data, CRC
        }
    }
}

/// Sample layouts the decoders hand back, 8 bits a sample.
#[derive(Debug, Clone, Copy)]
enum Layout {
    Gray,
    GrayAlpha,
    Rgb,
    Rgba,
}

/// Converts decoded samples to packed RGB in place (a 50 MP RGBA source is 200 MB already; a second
/// buffer would double that). Alpha is composited on white, as a viewer shows a transparent screenshot.
fn to_rgb8(data: &mut Vec<u8>, layout: Layout, pixels: usize) -> Result<(), PhotoError> {
    let channels = match layout {
        Layout::Gray => 1,
        Layout::GrayAlpha => 2,
        Layout::Rgb => 3,
        Layout::Rgba => 4,
    };
    if data.len() < pixels * channels {
        return Err(corrupt(
            "the decoder returned fewer pixels than the header promised",
        ));
    }
    match layout {
        Layout::Gray => expand_gray(data, pixels, 1, |p| p[0]),
        Layout::GrayAlpha => expand_gray(data, pixels, 2, |p| over_white(p[0], p[1])),
        Layout::Rgba => compact_rgba(data, pixels),
        Layout::Rgb => {}
    }
    data.truncate(pixels * 3);
    Ok(())
}

/// Gray (with or without alpha) to RGB. The output is larger than the input, so walk backwards: pixel
/// `i` is written at `3i`, at or after where any not-yet-read pixel `j < i` lives.
fn expand_gray(data: &mut Vec<u8>, pixels: usize, channels: usize, gray: impl Fn(&[u8]) -> u8) {
    data.resize(data.len().max(pixels * 3), 0);
    for i in (0..pixels).rev() {
        let g = gray(&data[i * channels..i * channels + channels]);
        data[i * 3..i * 3 + 3].fill(g);
    }
}

/// RGBA to RGB. The output is smaller, so walk forwards: pixel `i` is written at `3i`, before `4(i+1)`
/// where the next unread pixel starts.
fn compact_rgba(data: &mut [u8], pixels: usize) {
    for i in 0..pixels {
        let [r, g, b, a] = [
            data[i * 4],
            data[i * 4 + 1],
            data[i * 4 + 2],
            data[i * 4 + 3],
        ];
        data[i * 3..i * 3 + 3].copy_from_slice(&[
            over_white(r, a),
            over_white(g, a),
            over_white(b, a),
        ]);
    }
}

/// `value` at opacity `alpha` over white, rounded.
fn over_white(value: u8, alpha: u8) -> u8 {
    let (v, a) = (u32::from(value), u32::from(alpha));
    // At most (255 * 255 + 255 * 0 + 127) / 255 = 255, so the cast is lossless.
    ((v * a + 255 * (255 - a) + 127) / 255) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn over_white_endpoints() {
        assert_eq!(over_white(0, 255), 0);
        assert_eq!(over_white(0, 0), 255);
        assert_eq!(over_white(200, 255), 200);
        assert_eq!(over_white(0, 128), 127);
    }

    #[test]
    fn in_place_conversions() {
        let mut gray = vec![1, 2, 3];
        to_rgb8(&mut gray, Layout::Gray, 3).expect("gray");
        assert_eq!(gray, [1, 1, 1, 2, 2, 2, 3, 3, 3]);

        let mut gray_alpha = vec![10, 255, 20, 0];
        to_rgb8(&mut gray_alpha, Layout::GrayAlpha, 2).expect("gray alpha");
        assert_eq!(gray_alpha, [10, 10, 10, 255, 255, 255]);

        let mut rgba = vec![1, 2, 3, 255, 4, 5, 6, 255, 0, 0, 0, 0];
        to_rgb8(&mut rgba, Layout::Rgba, 3).expect("rgba");
        assert_eq!(rgba, [1, 2, 3, 4, 5, 6, 255, 255, 255]);

        // Padding past the last pixel is dropped.
        let mut padded = vec![1, 2, 3, 9, 9];
        to_rgb8(&mut padded, Layout::Rgb, 1).expect("rgb");
        assert_eq!(padded, [1, 2, 3]);

        let mut short = vec![1, 2, 3];
        assert!(to_rgb8(&mut short, Layout::Rgba, 1).is_err());
    }

    /// SOI, an APP1 holding a whole embedded JPEG (as EXIF thumbnails do), SOS with scan data containing
    /// stuffed bytes and a restart marker, EOI, then a trailer.
    fn skeleton(scan: &[u8], end: &[u8]) -> Vec<u8> {
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x06, 0xFF, 0xD8, 0xFF, 0xD9];
        jpeg.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x04, 0x01, 0x02]);
        jpeg.extend_from_slice(scan);
        jpeg.extend_from_slice(end);
        jpeg
    }

    #[test]
    fn jpeg_end_detection() {
        let scan = [0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD3, 0x56];
        assert!(check_jpeg_ends(&skeleton(&scan, &[0xFF, 0xD9, b'x', b'y'])).is_ok());
        assert!(
            check_jpeg_ends(&skeleton(&scan, &[0xFF, 0xFF, 0xD9])).is_ok(),
            "fill bytes"
        );
        assert!(
            check_jpeg_ends(&skeleton(&scan, &[])).is_err(),
            "the embedded EOI does not count"
        );
        assert!(check_jpeg_ends(&skeleton(&scan, &[0xFF])).is_err());
        assert!(
            check_jpeg_ends(&[0xFF, 0xD8, 0xFF, 0xE0, 0x10]).is_err(),
            "cut inside a length"
        );
        assert!(
            check_jpeg_ends(&[0xFF, 0xD8, 0xFF, 0xE0, 0xFF, 0xFF]).is_err(),
            "length past the end"
        );
    }

    #[test]
    fn png_chunk_lookup() {
        let mut png = PNG_MAGIC.to_vec();
        for (kind, data) in [(b"IHDR", &b"hdr"[..]), (b"eXIf", b"II*\0"), (b"IEND", b"")] {
            png.extend_from_slice(&(data.len() as u32).to_be_bytes());
            png.extend_from_slice(kind);
            png.extend_from_slice(data);
            png.extend_from_slice(&[0; 4]);
        }
        assert_eq!(png_chunk(&png, b"eXIf"), Some(&b"II*\0"[..]));
        assert_eq!(png_chunk(&png, b"tEXt"), None);
        assert_eq!(png_chunk(&png[..20], b"eXIf"), None);
    }
}
