//! Photo processing: a worker's camera JPEG (or a PNG screenshot) in, an upright, size-limited JPEG plus a
//! thumbnail out, with the few EXIF facts that matter for a case (when and where it was taken).
//!
//! The pipeline is: sniff the format, read the header and refuse decompression bombs before any pixel
//! buffer exists, decode to RGB8, read EXIF, downscale to `full_long_edge`, apply the EXIF orientation to
//! the *small* buffer (rotating 12 MP would cost more than the resize), make the thumbnail from that, and
//! encode both as JPEG without any metadata (the stored photos carry no EXIF, so no stray GPS or device
//! data leaks with them; the facts we keep travel in [`PhotoMeta`]).
//!
//! Output is deterministic for a given input on a given machine, because the store deduplicates by the
//! SHA-256 of the output. (SIMD paths in the decoder and resizer are chosen by CPU, so two different CPUs
//! may round a pixel differently; determinism is promised per device, not across devices.)

mod decode;
mod metadata;
mod orient;
mod resize;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Bounds on what [`process_photo`] accepts and produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhotoLimits {
    /// Inputs longer than this are refused before anything is parsed.
    pub max_input_bytes: usize,
    /// `width * height` of the source above this is refused from the header alone (decompression bombs).
    pub max_pixels: u64,
    /// Long edge of the stored photo, in pixels; smaller sources are never upscaled.
    pub full_long_edge: u32,
    /// Long edge of the thumbnail, in pixels; never larger than the stored photo.
    pub thumb_long_edge: u32,
    /// JPEG quality for both outputs, 1..=100.
    pub jpeg_quality: u8,
}

impl Default for PhotoLimits {
    fn default() -> Self {
        Self {
            max_input_bytes: 40 * 1024 * 1024,
            max_pixels: 50_000_000,
            full_long_edge: 1600,
            thumb_long_edge: 320,
            jpeg_quality: 85,
        }
    }
}

impl PhotoLimits {
    fn validate(&self) -> Result<(), PhotoError> {
        if self.full_long_edge == 0 || self.thumb_long_edge == 0 {
            return Err(PhotoError::InvalidLimits(
                "long edges must be at least 1 pixel".into(),
            ));
        }
        if !(1..=100).contains(&self.jpeg_quality) {
            return Err(PhotoError::InvalidLimits(format!(
                "jpeg_quality {} is outside 1..=100",
                self.jpeg_quality
            )));
        }
        Ok(())
    }
}

/// The result of [`process_photo`]: two JPEGs without metadata and what we learned about them.
#[derive(Clone, PartialEq)]
pub struct ProcessedPhoto {
    /// The stored photo: upright, long edge <= `full_long_edge`, no EXIF.
    pub full: Vec<u8>,
    /// The list thumbnail: made from `full`, long edge <= `thumb_long_edge`, no EXIF.
    pub thumb: Vec<u8>,
    pub meta: PhotoMeta,
}

// Hand-written so that logging a photo does not dump a megabyte of bytes.
impl std::fmt::Debug for ProcessedPhoto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessedPhoto")
            .field("full", &format_args!("<{} bytes>", self.full.len()))
            .field("thumb", &format_args!("<{} bytes>", self.thumb.len()))
            .field("meta", &self.meta)
            .finish()
    }
}

/// Facts about a processed photo, stored next to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhotoMeta {
    /// Lowercase hex SHA-256 of `full`.
    pub sha256: String,
    /// Lowercase hex SHA-256 of `thumb`.
    pub thumb_sha256: String,
    /// `full.len()`.
    pub bytes: u64,
    /// Dimensions of `full`, after orientation.
    pub width: u32,
    pub height: u32,
    pub thumb_width: u32,
    pub thumb_height: u32,
    /// `"jpeg"` or `"png"`.
    pub source_format: String,
    /// EXIF DateTimeOriginal (else DateTime) as `YYYY-MM-DDTHH:MM:SS`, with the EXIF offset (`+08:00`)
    /// appended when the camera recorded one.
    pub taken_at: Option<String>,
    /// EXIF GPS position, WGS-84 decimal degrees, south and west negative.
    pub gps: Option<GpsFix>,
}

/// A position in WGS-84 decimal degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GpsFix {
    pub lat: f64,
    pub lon: f64,
}

/// Why a photo was refused. Messages are shown to workers, hence the Chinese gloss.
#[derive(Debug, thiserror::Error)]
pub enum PhotoError {
    #[error("the photo is empty (照片为空)")]
    Empty,
    #[error("the photo is too large: {bytes} bytes, the limit is {limit} bytes (照片文件过大)")]
    TooLarge { bytes: usize, limit: usize },
    #[error("not a JPEG or PNG image (不是 JPEG 或 PNG 图片)")]
    NotAnImage,
    #[error("the image is corrupt or truncated: {0} (图片已损坏或不完整)")]
    Corrupt(String),
    #[error(
        "the image has too many pixels: {width}x{height}, the limit is {limit} pixels (图片像素过多)"
    )]
    TooManyPixels { width: u32, height: u32, limit: u64 },
    /// A JPEG whose entropy-coded data is too short for the size its frame header declares: a small
    /// photo with an edited header (a decompression bomb), or data lost in transfer. Refused from a walk
    /// over the markers, before any pixel memory is allocated.
    #[error(
        "the image data is shorter than its header claims: {width}x{height} needs at least {needed} bytes of image data, the file has {found} (照片数据不完整)"
    )]
    DataIncomplete {
        width: u32,
        height: u32,
        needed: u64,
        found: u64,
    },
    #[error("could not resize the image: {0} (图片缩放失败)")]
    Resize(String),
    #[error("could not encode the JPEG: {0} (JPEG 编码失败)")]
    Encode(String),
    #[error("invalid photo limits: {0} (照片处理参数无效)")]
    InvalidLimits(String),
}

/// Which decoder a source went through; becomes [`PhotoMeta::source_format`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    Jpeg,
    Png,
}

pub(crate) use ImageFormat as SourceFormat;

impl ImageFormat {
    /// `"jpeg"` or `"png"`.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceFormat::Jpeg => "jpeg",
            SourceFormat::Png => "png",
        }
    }
}

/// A tightly packed RGB8 image (3 bytes a pixel, no row padding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rgb8 {
    pub(crate) data: Vec<u8>,
    pub(crate) width: u32,
    pub(crate) height: u32,
}

/// Turns a camera photo into the stored photo, its thumbnail and their metadata. See the module docs.
pub fn process_photo(input: &[u8], limits: &PhotoLimits) -> Result<ProcessedPhoto, PhotoError> {
    limits.validate()?;
    if input.is_empty() {
        return Err(PhotoError::Empty);
    }
    if input.len() > limits.max_input_bytes {
        return Err(PhotoError::TooLarge {
            bytes: input.len(),
            limit: limits.max_input_bytes,
        });
    }

    let decoded = decode::decode(input, limits.max_pixels)?;
    // EXIF is best effort: a photo with broken metadata is still evidence, so it is kept as stored.
    let facts = decoded
        .exif
        .as_deref()
        .map(metadata::read)
        .unwrap_or_default();

    // Resize first, orient second: the rotation then touches ~2 MP instead of 12.
    // `fit_dims` is symmetric in width and height, so fitting the stored (unrotated) dimensions gives
    // exactly the transpose of fitting the upright ones.
    let small = resize::shrink(decoded.image, limits.full_long_edge)?;
    let full = orient::apply(small, facts.orientation);
    // The thumbnail comes from the small upright image: a second 12 MP pass would double the cost.
    let (thumb_width, thumb_height) =
        resize::fit_dims(full.width, full.height, limits.thumb_long_edge);
    let thumb = resize::resized(&full, thumb_width, thumb_height)?;

    let full_jpeg = encode_jpeg(&full, limits.jpeg_quality)?;
    let thumb_jpeg = encode_jpeg(&thumb, limits.jpeg_quality)?;
    let meta = PhotoMeta {
        sha256: sha256_hex(&full_jpeg),
        thumb_sha256: sha256_hex(&thumb_jpeg),
        bytes: full_jpeg.len() as u64,
        width: full.width,
        height: full.height,
        thumb_width: thumb.width,
        thumb_height: thumb.height,
        source_format: decoded.format.as_str().to_owned(),
        taken_at: facts.taken_at,
        gps: facts.gps,
    };
    Ok(ProcessedPhoto {
        full: full_jpeg,
        thumb: thumb_jpeg,
        meta,
    })
}

/// What [`check_image`] found: a JPEG or PNG of these dimensions, whose data decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageInfo {
    pub format: ImageFormat,
    pub width: u32,
    pub height: u32,
}

/// Checks that `bytes` are a whole JPEG or PNG of at most `max_pixels`, for a receiver of photos (the
/// server) that keeps the bytes as they are.
///
/// The same checks as [`process_photo`], in the same order: the format from the magic bytes, the
/// declared size against `max_pixels` from the header alone, for JPEG the marker walk (the file reaches
/// its end-of-image marker, and its scan data is long enough for the declared size, else
/// [`PhotoError::DataIncomplete`] without decoding), then a real decode, so that data the header does not
/// match (a PNG whose IDAT runs short, a damaged JPEG scan) is refused too. The decode allocates the
/// image once (`width * height * 4` bytes at most), so choose `max_pixels` for the photos expected.
///
/// The JPEG data check is a lower bound (2 bits a block): an edited header over scan data dense enough
/// for the claimed size passes it, and zune-jpeg then fills the blocks the data does not reach (it does
/// not report running out). Such a file costs what a genuine photo of the claimed size costs, which
/// `max_pixels` bounds.
pub fn check_image(bytes: &[u8], max_pixels: u64) -> Result<ImageInfo, PhotoError> {
    if bytes.is_empty() {
        return Err(PhotoError::Empty);
    }
    let decoded = decode::decode(bytes, max_pixels)?;
    Ok(ImageInfo {
        format: decoded.format,
        width: decoded.image.width,
        height: decoded.image.height,
    })
}

/// Lowercase hex SHA-256, the content address used by the store.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Baseline JPEG of an RGB8 image. jpeg-encoder writes SOI, APP0 (JFIF), tables and scan only: no EXIF.
fn encode_jpeg(image: &Rgb8, quality: u8) -> Result<Vec<u8>, PhotoError> {
    let too_wide = |_| {
        PhotoError::Encode(format!(
            "{}x{} exceeds 65535 pixels",
            image.width, image.height
        ))
    };
    let width = u16::try_from(image.width).map_err(too_wide)?;
    let height = u16::try_from(image.height).map_err(too_wide)?;
    let mut out = Vec::with_capacity(image.data.len() / 8);
    // Standard Huffman tables on purpose: jpeg-encoder 0.6's optimised tables (13% smaller) decode with
    // wrong colours in zune-jpeg 0.5 (the `image` crate's decoder, so likely a server's), although
    // libjpeg-turbo reads them fine. Compatibility with every viewer of the evidence wins.
    jpeg_encoder::Encoder::new(&mut out, quality)
        .encode(&image.data, width, height, jpeg_encoder::ColorType::Rgb)
        .map_err(|e| PhotoError::Encode(e.to_string()))?;
    Ok(out)
}
