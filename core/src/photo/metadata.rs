//! The EXIF facts a case needs: orientation (to store the photo upright), when it was taken and where.
//!
//! Everything here is best effort. A camera that writes a broken maker note or a nonsense date still took
//! a valid photo, so bad metadata yields "unknown", never an error.

use ::exif::{Exif, Field, In, Rational, Reader, Tag, Value};

use super::GpsFix;
use super::orient::Orientation;

/// What [`read`] found; `Default` is "nothing".
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct ExifFacts {
    pub(crate) orientation: Orientation,
    pub(crate) taken_at: Option<String>,
    pub(crate) gps: Option<GpsFix>,
}

/// Facts from raw EXIF, i.e. the TIFF structure that follows `Exif\0\0` in a JPEG APP1 (or a PNG eXIf).
pub(crate) fn read(tiff: &[u8]) -> ExifFacts {
    // continue_on_error keeps the fields that parsed when some other IFD (often a maker note) is broken.
    let parsed = Reader::new()
        .continue_on_error(true)
        .read_raw(tiff.to_vec())
        .or_else(|e| e.distill_partial_result(|_ignored| {}));
    match parsed {
        Ok(exif) => ExifFacts {
            orientation: orientation(&exif),
            taken_at: taken_at(&exif),
            gps: gps(&exif),
        },
        Err(_) => ExifFacts::default(),
    }
}

fn field(exif: &Exif, tag: Tag) -> Option<&Field> {
    exif.get_field(tag, In::PRIMARY)
}

fn orientation(exif: &Exif) -> Orientation {
    field(exif, Tag::Orientation)
        .and_then(|f| f.value.get_uint(0))
        .map(Orientation::from_exif)
        .unwrap_or_default()
}

/// DateTimeOriginal (the shutter), else DateTime (last modified, usually the same on a phone), each with
/// its matching offset tag.
fn taken_at(exif: &Exif) -> Option<String> {
    [
        (Tag::DateTimeOriginal, Tag::OffsetTimeOriginal),
        (Tag::DateTime, Tag::OffsetTime),
    ]
    .into_iter()
    .find_map(|(time, offset)| {
        let local = ascii(exif, time).and_then(|s| exif_datetime(&s))?;
        let offset = ascii(exif, offset)
            .filter(|s| is_utc_offset(s))
            .unwrap_or_default();
        Some(local + &offset)
    })
}

/// The first string of an ASCII field, without the padding some cameras leave.
fn ascii(exif: &Exif, tag: Tag) -> Option<String> {
    match &field(exif, tag)?.value {
        Value::Ascii(strings) => {
            let first = strings.first()?;
            let text = std::str::from_utf8(first).ok()?;
            Some(
                text.trim_matches(|c: char| c == '\0' || c.is_whitespace())
                    .to_owned(),
            )
        }
        _ => None,
    }
}

/// `2024:05:17 09:30:05` as `2024-05-17T09:30:05`; `None` for the blanks and zeros cameras write when their
/// clock is unset.
fn exif_datetime(text: &str) -> Option<String> {
    let parsed = chrono::NaiveDateTime::parse_from_str(text, "%Y:%m:%d %H:%M:%S")
        // Some editors write the ISO separators instead.
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S"))
        .ok()?;
    Some(parsed.format("%Y-%m-%dT%H:%M:%S").to_string())
}

/// `+08:00` / `-05:30`, the only form EXIF 2.31 allows.
fn is_utc_offset(text: &str) -> bool {
    let b = text.as_bytes();
    let two_digits = |hi: u8, lo: u8| hi.is_ascii_digit() && lo.is_ascii_digit();
    b.len() == 6
        && matches!(b[0], b'+' | b'-')
        && two_digits(b[1], b[2])
        && b[3] == b':'
        && two_digits(b[4], b[5])
        && (b[1] - b'0') * 10 + (b[2] - b'0') <= 14
        && (b[4] - b'0') * 10 + (b[5] - b'0') < 60
}

/// Latitude and longitude from the GPS IFD.
///
/// A missing hemisphere reference gives no fix rather than a guess: a sign error puts the photo on the
/// other side of the planet. (0, 0) is treated as "no fix" too: it is what receivers without a lock write.
fn gps(exif: &Exif) -> Option<GpsFix> {
    let lat = coordinate(
        exif,
        Tag::GPSLatitude,
        Tag::GPSLatitudeRef,
        b'N',
        b'S',
        90.0,
    )?;
    let lon = coordinate(
        exif,
        Tag::GPSLongitude,
        Tag::GPSLongitudeRef,
        b'E',
        b'W',
        180.0,
    )?;
    (lat != 0.0 || lon != 0.0).then_some(GpsFix { lat, lon })
}

/// One signed coordinate in decimal degrees from degrees/minutes/seconds rationals and a reference letter.
fn coordinate(
    exif: &Exif,
    tag: Tag,
    ref_tag: Tag,
    positive: u8,
    negative: u8,
    max: f64,
) -> Option<f64> {
    let sign = match ascii(exif, ref_tag)?
        .as_bytes()
        .first()?
        .to_ascii_uppercase()
    {
        c if c == positive => 1.0,
        c if c == negative => -1.0,
        _ => return None,
    };
    let Value::Rational(dms) = &field(exif, tag)?.value else {
        return None;
    };
    // Degrees are required; some writers fold minutes and seconds into them as fractions.
    let ratio = |r: &Rational| (r.denom != 0).then(|| r.to_f64());
    let mut parts = dms.iter();
    let degrees = ratio(parts.next()?)?;
    let minutes = parts.next().map_or(Some(0.0), ratio)?;
    let seconds = parts.next().map_or(Some(0.0), ratio)?;
    let value = degrees + minutes / 60.0 + seconds / 3600.0;
    (value.is_finite() && value <= max).then_some(sign * value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes() {
        assert_eq!(
            exif_datetime("2024:05:17 09:30:05").as_deref(),
            Some("2024-05-17T09:30:05")
        );
        assert_eq!(
            exif_datetime("2024-05-17 09:30:05").as_deref(),
            Some("2024-05-17T09:30:05")
        );
        assert_eq!(exif_datetime("0000:00:00 00:00:00"), None);
        assert_eq!(exif_datetime("    :  :     :  :  "), None);
        assert_eq!(exif_datetime(""), None);
    }

    #[test]
    fn offsets() {
        for ok in ["+08:00", "-05:30", "+00:00", "+14:00"] {
            assert!(is_utc_offset(ok), "{ok}");
        }
        for bad in [
            "08:00", "+8:00", "+08:0", "+15:00", "+08:60", "", "+0800", "+08:00 ",
        ] {
            assert!(!is_utc_offset(bad), "{bad}");
        }
    }

    #[test]
    fn garbage_is_no_facts() {
        assert_eq!(read(b""), ExifFacts::default());
        assert_eq!(read(b"II*\0\xff\xff\xff\xff"), ExifFacts::default());
        assert_eq!(read(&[0x5a; 100]), ExifFacts::default());
    }
}
