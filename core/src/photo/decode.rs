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
    // The marker walk first: it costs a pass over the bytes and no pixel memory, and refuses a truncated
    // file, and a header that claims more than the data can hold, before zune allocates anything.
    let layout = jpeg_layout(input)?;
    check_pixels(
        u32::from(layout.width),
        u32::from(layout.height),
        max_pixels,
    )?;
    layout.check_data()?;

    // Not zune's strict mode: it refuses photos with harmless quirks (padding between segments) that
    // every viewer shows, yet still misses a cut in the last row of blocks. Truncation was caught above.
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
    if (width, height) != (u32::from(layout.width), u32::from(layout.height)) {
        return Err(corrupt(
            "the decoder read other dimensions than the frame header's",
        ));
    }
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

/// What the marker walk learned of a JPEG: its frame, and the first scan (if any) whose entropy-coded
/// data is shorter than the frame's dimensions need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JpegLayout {
    pub(crate) width: u16,
    pub(crate) height: u16,
    /// `(needed, found)` bytes of entropy-coded data, when some scan (or a missing one) falls short.
    shortfall: Option<(u64, u64)>,
}

impl JpegLayout {
    /// Refuses a file whose scan data cannot hold the blocks its header declares (a "bomb": a small
    /// photo whose frame header was edited to claim a huge size, which zune would fill with grey at the
    /// cost of the claimed size in time and memory).
    pub(crate) fn check_data(&self) -> Result<(), PhotoError> {
        match self.shortfall {
            Some((needed, found)) => Err(PhotoError::DataIncomplete {
                width: u32::from(self.width),
                height: u32::from(self.height),
                needed,
                found,
            }),
            None => Ok(()),
        }
    }
}

/// One frame component: its id and sampling factors.
#[derive(Debug, Clone, Copy)]
struct FrameComponent {
    id: u8,
    h: u8,
    v: u8,
    /// Whether a scan coded it (for progressive frames: a DC-first scan).
    coded: bool,
}

#[derive(Debug)]
struct Frame {
    progressive: bool,
    width: u16,
    height: u16,
    components: Vec<FrameComponent>,
}

impl Frame {
    /// 8x8 blocks of component `c` in a non-interleaved scan. An interleaved scan codes at least as many
    /// (it pads to whole MCUs), so this is a lower bound either way.
    fn blocks(&self, c: &FrameComponent) -> u64 {
        let h_max = self.components.iter().map(|c| c.h).max().unwrap_or(1);
        let v_max = self.components.iter().map(|c| c.v).max().unwrap_or(1);
        let cols = (u64::from(self.width) * u64::from(c.h)).div_ceil(u64::from(h_max));
        let rows = (u64::from(self.height) * u64::from(c.v)).div_ceil(u64::from(v_max));
        cols.div_ceil(8) * rows.div_ceil(8)
    }

    /// The fewest bits a scan of these components can take. Every Huffman code is at least one bit:
    /// a sequential block is a DC code and at least one AC code (an EOB at least), two bits; a
    /// progressive DC-first scan codes one DC code a block, one bit; other progressive scans can code
    /// whole bands of blocks in one EOB run, so they promise nothing.
    fn min_scan_bits(&self, comps: &[usize], dc_first: bool) -> u64 {
        let per_block = match (self.progressive, dc_first) {
            (false, _) => 2,
            (true, true) => 1,
            (true, false) => 0,
        };
        comps
            .iter()
            .map(|&i| self.blocks(&self.components[i]) * per_block)
            .sum()
    }
}

/// Walks a JPEG's markers from SOI to EOI without decoding: the frame header (SOF0/1/2, the only ones
/// zune decodes), each scan header and the length of the entropy-coded data after it (stuffed zeros
/// count as the data byte they stand for, restart markers and fill bytes not at all).
///
/// Refuses, as [`PhotoError::Corrupt`], a marker stream that stops before EOI (a truncated file: zune
/// would fill the rest with grey), a scan before the frame or naming a component the frame lacks, and
/// unsupported or repeated frame headers. Segments are skipped by their length, so an EXIF thumbnail's
/// own EOI inside APP1 does not count; bytes between segments are skipped as every viewer does; anything
/// after EOI (MPF images, vendor trailers) is ignored. Whether the data is long enough for the frame is
/// left to [`JpegLayout::check_data`], so that the caller can check the pixel budget first.
pub(crate) fn jpeg_layout(input: &[u8]) -> Result<JpegLayout, PhotoError> {
    let truncated = || corrupt("the JPEG ends before its end-of-image marker");
    let mut frame: Option<Frame> = None;
    let mut shortfall: Option<(u64, u64)> = None;
    let mut pos = 2;
    let mut next = None;
    loop {
        let code_at = match next.take() {
            Some(at) => at,
            None => entropy_run(input, pos).ok_or_else(truncated)?.0,
        };
        let code = input[code_at];
        match code {
            0xD9 => break,
            // TEM and a stray SOI have no length. (Restart markers are skipped by the walk.)
            0x01 | 0xD8 => {
                pos = code_at + 1;
                continue;
            }
            _ => {}
        }
        let len = input.get(code_at + 1..code_at + 3).ok_or_else(truncated)?;
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        if len < 2 {
            return Err(corrupt(format!(
                "marker 0xFF{code:02X} has an invalid length {len}"
            )));
        }
        let end = code_at + 1 + len;
        let body = input.get(code_at + 3..end).ok_or_else(truncated)?;
        pos = end;
        match code {
            0xC0..=0xC2 => {
                if frame.is_some() {
                    return Err(corrupt("more than one frame header"));
                }
                frame = Some(parse_frame(body, code == 0xC2)?);
            }
            // The other SOFn: lossless, hierarchical, arithmetic coding. (C4 is DHT, C8 JPG, CC DAC.)
            0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => {
                return Err(corrupt(format!(
                    "JPEG coding process SOF{} (lossless, hierarchical or arithmetic) is not supported",
                    code - 0xC0
                )));
            }
            0xDA => {
                let frame = frame
                    .as_mut()
                    .ok_or_else(|| corrupt("a scan before the frame header"))?;
                let (comps, dc_first) = parse_scan(body, frame)?;
                let (marker_at, found) = entropy_run(input, end).ok_or_else(truncated)?;
                next = Some(marker_at);
                let needed_bits = frame.min_scan_bits(&comps, dc_first);
                if found.saturating_mul(8) < needed_bits && shortfall.is_none() {
                    shortfall = Some((needed_bits.div_ceil(8), found));
                }
                if dc_first || !frame.progressive {
                    for i in comps {
                        frame.components[i].coded = true;
                    }
                }
            }
            _ => {}
        }
    }
    let frame = frame.ok_or_else(|| corrupt("no frame header"))?;
    // A component no scan coded (for progressive frames: no DC-first scan) is all missing data.
    if shortfall.is_none()
        && let Some(missing) = frame.components.iter().find(|c| !c.coded)
    {
        let per_block = if frame.progressive { 1 } else { 2 };
        shortfall = Some(((frame.blocks(missing) * per_block).div_ceil(8), 0));
    }
    Ok(JpegLayout {
        width: frame.width,
        height: frame.height,
        shortfall,
    })
}

/// A SOF0/1/2 segment's body: precision, height, width, then (id, sampling, table) per component.
fn parse_frame(body: &[u8], progressive: bool) -> Result<Frame, PhotoError> {
    let bad = |what: &str| corrupt(format!("bad frame header: {what}"));
    let [_precision, h1, h0, w1, w0, count, rest @ ..] = body else {
        return Err(bad("too short"));
    };
    let (width, height) = (
        u16::from_be_bytes([*w1, *w0]),
        u16::from_be_bytes([*h1, *h0]),
    );
    if width == 0 || height == 0 {
        // Height 0 means "given later by a DNL marker", which zune does not read either.
        return Err(bad("zero width or height"));
    }
    if !(1..=4).contains(count) || rest.len() < usize::from(*count) * 3 {
        return Err(bad("component count"));
    }
    let mut components = Vec::with_capacity(usize::from(*count));
    for c in rest.chunks_exact(3).take(usize::from(*count)) {
        let (h, v) = (c[1] >> 4, c[1] & 0x0F);
        if !(1..=4).contains(&h) || !(1..=4).contains(&v) {
            return Err(bad("sampling factor outside 1..=4"));
        }
        if components.iter().any(|k: &FrameComponent| k.id == c[0]) {
            return Err(bad("repeated component id"));
        }
        components.push(FrameComponent {
            id: c[0],
            h,
            v,
            coded: false,
        });
    }
    Ok(Frame {
        progressive,
        width,
        height,
        components,
    })
}

/// A SOS segment's body: the indexes (into the frame) of the components it codes, and whether it is a
/// progressive DC-first scan (spectral start 0, no successive-approximation refinement).
fn parse_scan(body: &[u8], frame: &Frame) -> Result<(Vec<usize>, bool), PhotoError> {
    let bad = |what: &str| corrupt(format!("bad scan header: {what}"));
    let count = usize::from(*body.first().ok_or_else(|| bad("too short"))?);
    if !(1..=4).contains(&count) || body.len() < 1 + 2 * count + 3 {
        return Err(bad("component count"));
    }
    let mut comps = Vec::with_capacity(count);
    for selector in body[1..1 + 2 * count].chunks_exact(2) {
        let i = frame
            .components
            .iter()
            .position(|c| c.id == selector[0])
            .ok_or_else(|| bad("a component the frame does not have"))?;
        if comps.contains(&i) {
            return Err(bad("a component twice"));
        }
        comps.push(i);
    }
    let spectral_start = body[1 + 2 * count];
    let approximation_high = body[1 + 2 * count + 2] >> 4;
    Ok((comps, spectral_start == 0 && approximation_high == 0))
}

/// From `from`, the index of the code byte of the next marker, and the entropy-coded bytes before it:
/// fill bytes (0xFF before a marker) and restart markers are skipped, and a stuffed 0xFF00 counts as
/// the one data byte it stands for. `None` when the input ends first.
fn entropy_run(input: &[u8], from: usize) -> Option<(usize, u64)> {
    let mut pos = from;
    let mut data = 0u64;
    loop {
        let run = input.get(pos..)?.iter().position(|&b| b == 0xFF)?;
        data += run as u64;
        let mut code_at = pos + run + 1;
        while input.get(code_at) == Some(&0xFF) {
            code_at += 1;
        }
        match *input.get(code_at)? {
            0x00 => {
                data += 1;
                pos = code_at + 1;
            }
            0xD0..=0xD7 => pos = code_at + 1,
            _ => return Some((code_at, data)),
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

    /// A frame header (SOF0, or SOF2 when `progressive`) of one 8-bit component per `(id, h, v)`.
    fn sof(progressive: bool, width: u16, height: u16, comps: &[(u8, u8, u8)]) -> Vec<u8> {
        let mut seg = vec![0xFF, if progressive { 0xC2 } else { 0xC0 }];
        seg.extend_from_slice(&(8 + 3 * comps.len() as u16).to_be_bytes());
        seg.push(8);
        seg.extend_from_slice(&height.to_be_bytes());
        seg.extend_from_slice(&width.to_be_bytes());
        seg.push(comps.len() as u8);
        for &(id, h, v) in comps {
            seg.extend_from_slice(&[id, h << 4 | v, 0]);
        }
        seg
    }

    /// A scan header coding `ids`, spectral selection `ss..=se`, approximation `ah`.
    fn sos(ids: &[u8], ss: u8, se: u8, ah: u8) -> Vec<u8> {
        let mut seg = vec![0xFF, 0xDA];
        seg.extend_from_slice(&(6 + 2 * ids.len() as u16).to_be_bytes());
        seg.push(ids.len() as u8);
        for &id in ids {
            seg.extend_from_slice(&[id, 0]);
        }
        seg.extend_from_slice(&[ss, se, ah << 4]);
        seg
    }

    /// SOI, an APP1 holding a whole embedded JPEG (as EXIF thumbnails do), an 8x8 gray frame, SOS with
    /// `scan` as its data, then `end`.
    fn skeleton(scan: &[u8], end: &[u8]) -> Vec<u8> {
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x06, 0xFF, 0xD8, 0xFF, 0xD9];
        jpeg.extend(sof(false, 8, 8, &[(1, 1, 1)]));
        jpeg.extend(sos(&[1], 0, 63, 0));
        jpeg.extend_from_slice(scan);
        jpeg.extend_from_slice(end);
        jpeg
    }

    #[test]
    fn jpeg_end_detection() {
        let scan = [0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD3, 0x56];
        let eoi = [0xFF, 0xD9];
        assert!(jpeg_layout(&skeleton(&scan, &[0xFF, 0xD9, b'x', b'y'])).is_ok());
        assert!(
            jpeg_layout(&skeleton(&scan, &[0xFF, 0xFF, 0xD9])).is_ok(),
            "fill bytes"
        );
        assert!(
            jpeg_layout(&skeleton(&scan, &[])).is_err(),
            "the embedded EOI does not count"
        );
        assert!(jpeg_layout(&skeleton(&scan, &[0xFF])).is_err());
        assert!(
            jpeg_layout(&[0xFF, 0xD8, 0xFF, 0xE0, 0x10]).is_err(),
            "cut inside a length"
        );
        assert!(
            jpeg_layout(&[0xFF, 0xD8, 0xFF, 0xE0, 0xFF, 0xFF]).is_err(),
            "length past the end"
        );
        assert!(
            jpeg_layout(&[0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x01, 0xFF, 0xD9]).is_err(),
            "length below 2"
        );
        assert!(
            jpeg_layout(&[0xFF, 0xD8, 0xFF, 0xD9]).is_err(),
            "no frame header"
        );
        let mut lossless = vec![0xFF, 0xD8];
        lossless.extend(sof(false, 8, 8, &[(1, 1, 1)]));
        lossless[3] = 0xC3;
        lossless.extend(eoi);
        assert!(jpeg_layout(&lossless).is_err(), "SOF3");
    }

    #[test]
    fn entropy_data_is_counted_without_stuffing_restarts_or_fill() {
        // 0x12, stuffed 0xFF, 0x34, RST3, 0x56, fill, EOI.
        let input = [0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD3, 0x56, 0xFF, 0xFF, 0xD9];
        assert_eq!(entropy_run(&input, 0), Some((9, 4)));
        assert_eq!(entropy_run(&input[..8], 0), None);
    }

    fn layout_of(segments: &[Vec<u8>]) -> JpegLayout {
        let mut jpeg = vec![0xFF, 0xD8];
        for s in segments {
            jpeg.extend_from_slice(s);
        }
        jpeg.extend_from_slice(&[0xFF, 0xD9]);
        jpeg_layout(&jpeg).expect("well formed")
    }

    #[test]
    fn scan_data_must_cover_the_declared_blocks() {
        // 64x64 4:2:0: 64 luma blocks and 16 of each chroma, two bits each in a sequential scan.
        let frame = sof(false, 64, 64, &[(1, 2, 2), (2, 1, 1), (3, 1, 1)]);
        let blocks: u64 = 64 + 16 + 16;
        let enough = vec![0x55; (blocks * 2 / 8) as usize];
        let short = vec![0x55; (blocks * 2 / 8) as usize - 1];
        let ok = layout_of(&[frame.clone(), sos(&[1, 2, 3], 0, 63, 0), enough.clone()]);
        assert_eq!((ok.width, ok.height, ok.shortfall), (64, 64, None));
        let bomb = layout_of(&[frame.clone(), sos(&[1, 2, 3], 0, 63, 0), short]);
        assert_eq!(bomb.shortfall, Some((24, 23)));
        assert!(matches!(
            bomb.check_data(),
            Err(PhotoError::DataIncomplete {
                width: 64,
                height: 64,
                needed: 24,
                found: 23
            })
        ));
        // Non-interleaved scans, one a component; a component no scan codes is all missing.
        let luma = vec![0x55; 16];
        let chroma = vec![0x55; 4];
        let separate = layout_of(&[
            frame.clone(),
            sos(&[1], 0, 63, 0),
            luma.clone(),
            sos(&[2], 0, 63, 0),
            chroma.clone(),
            sos(&[3], 0, 63, 0),
            chroma.clone(),
        ]);
        assert_eq!(separate.shortfall, None);
        let missing = layout_of(&[
            frame,
            sos(&[1], 0, 63, 0),
            luma,
            sos(&[2], 0, 63, 0),
            chroma,
        ]);
        assert_eq!(missing.shortfall, Some((4, 0)));
    }

    #[test]
    fn progressive_scans_are_bounded_by_their_dc_scans() {
        let frame = sof(true, 64, 64, &[(1, 1, 1), (2, 1, 1)]);
        // DC first of both: 128 blocks, a bit each = 16 bytes; AC and refinement scans may be tiny.
        let ok = layout_of(&[
            frame.clone(),
            sos(&[1, 2], 0, 0, 0),
            vec![0x55; 16],
            sos(&[1], 1, 63, 0),
            vec![0x55],
            sos(&[1, 2], 0, 0, 1),
            vec![0x55],
        ]);
        assert_eq!(ok.shortfall, None);
        let short = layout_of(&[frame.clone(), sos(&[1, 2], 0, 0, 0), vec![0x55; 15]]);
        assert_eq!(short.shortfall, Some((16, 15)));
        // No DC scan for component 2: only AC of it.
        let no_dc = layout_of(&[
            frame,
            sos(&[1], 0, 0, 0),
            vec![0x55; 8],
            sos(&[2], 1, 63, 0),
            vec![0x55; 100],
        ]);
        assert_eq!(no_dc.shortfall, Some((8, 0)));
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
