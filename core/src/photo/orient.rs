//! EXIF orientation applied to an RGB8 buffer, so stored photos are upright for every viewer.
//!
//! fast_image_resize has no rotate or flip, hence this. Each of the 8 orientations is "walk the source
//! with a start pixel, a step per output column and a step per output row", which keeps it to one loop.

use super::Rgb8;

/// EXIF tag 0x0112. The number says how the stored pixels must be transformed to display upright.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Orientation {
    /// 1: as stored.
    #[default]
    Normal,
    /// 2: mirror left-right.
    FlipHorizontal,
    /// 3: rotate 180°.
    Rotate180,
    /// 4: mirror top-bottom.
    FlipVertical,
    /// 5: mirror along the top-left to bottom-right diagonal.
    Transpose,
    /// 6: rotate 90° clockwise (a phone held upright, the most common case).
    Rotate90,
    /// 7: mirror along the top-right to bottom-left diagonal.
    Transverse,
    /// 8: rotate 90° counter-clockwise.
    Rotate270,
}

impl Orientation {
    /// The EXIF value; anything outside 1..=8 is treated as "as stored" rather than refusing the photo.
    pub(crate) fn from_exif(value: u32) -> Self {
        match value {
            2 => Self::FlipHorizontal,
            3 => Self::Rotate180,
            4 => Self::FlipVertical,
            5 => Self::Transpose,
            6 => Self::Rotate90,
            7 => Self::Transverse,
            8 => Self::Rotate270,
            _ => Self::Normal,
        }
    }

    /// Whether width and height trade places.
    pub(crate) fn swaps_axes(self) -> bool {
        matches!(
            self,
            Self::Transpose | Self::Rotate90 | Self::Transverse | Self::Rotate270
        )
    }
}

/// The upright image.
pub(crate) fn apply(image: Rgb8, orientation: Orientation) -> Rgb8 {
    if orientation == Orientation::Normal {
        return image;
    }
    let (width, height) = if orientation.swaps_axes() {
        (image.height, image.width)
    } else {
        (image.width, image.height)
    };
    let (w, h) = (image.width as usize, image.height as usize);
    let (out_w, out_h) = (width as usize, height as usize);
    let (start, col_step, row_step) = walk(orientation, w as isize, h as isize);

    let mut out = Vec::with_capacity(out_w * out_h * 3);
    for row in 0..out_h as isize {
        let mut pixel = start + row * row_step;
        for _ in 0..out_w {
            // In bounds by construction of `walk`; the slice index still checks.
            let at = pixel as usize * 3;
            out.extend_from_slice(&image.data[at..at + 3]);
            pixel += col_step;
        }
    }
    Rgb8 {
        data: out,
        width,
        height,
    }
}

/// Source pixel index of output (0, 0), and how it moves per output column and per output row, for a
/// `w` x `h` source. Derived from where each orientation sends the source's corners.
fn walk(orientation: Orientation, w: isize, h: isize) -> (isize, isize, isize) {
    let (top_left, top_right) = (0, w - 1);
    let (bottom_left, bottom_right) = ((h - 1) * w, (h - 1) * w + w - 1);
    match orientation {
        Orientation::Normal => (top_left, 1, w),
        Orientation::FlipHorizontal => (top_right, -1, w),
        Orientation::Rotate180 => (bottom_right, -1, -w),
        Orientation::FlipVertical => (bottom_left, 1, -w),
        // Output columns walk down source rows.
        Orientation::Transpose => (top_left, w, 1),
        Orientation::Rotate90 => (bottom_left, -w, 1),
        Orientation::Transverse => (bottom_right, -w, -1),
        Orientation::Rotate270 => (top_right, w, -1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 3x2 image whose pixels are numbered 1..=6 in reading order (stored in the red channel).
    ///   1 2 3
    ///   4 5 6
    fn numbered() -> Rgb8 {
        let data = (1..=6u8).flat_map(|n| [n, 0, 0]).collect();
        Rgb8 {
            data,
            width: 3,
            height: 2,
        }
    }

    fn rows(image: &Rgb8) -> Vec<Vec<u8>> {
        let reds: Vec<u8> = image.data.chunks_exact(3).map(|p| p[0]).collect();
        reds.chunks(image.width as usize)
            .map(<[u8]>::to_vec)
            .collect()
    }

    fn check(exif: u32, expected: &[&[u8]]) {
        let out = apply(numbered(), Orientation::from_exif(exif));
        assert_eq!(rows(&out), expected, "orientation {exif}");
        assert_eq!(out.height as usize, expected.len());
    }

    #[test]
    fn all_eight_orientations() {
        check(1, &[&[1, 2, 3], &[4, 5, 6]]);
        check(2, &[&[3, 2, 1], &[6, 5, 4]]);
        check(3, &[&[6, 5, 4], &[3, 2, 1]]);
        check(4, &[&[4, 5, 6], &[1, 2, 3]]);
        check(5, &[&[1, 4], &[2, 5], &[3, 6]]);
        // Clockwise: the left column (1 above 4) becomes the top row, read right to left.
        check(6, &[&[4, 1], &[5, 2], &[6, 3]]);
        check(7, &[&[6, 3], &[5, 2], &[4, 1]]);
        check(8, &[&[3, 6], &[2, 5], &[1, 4]]);
    }

    #[test]
    fn unknown_values_mean_as_stored() {
        for v in [0, 9, 255, u32::MAX] {
            assert_eq!(Orientation::from_exif(v), Orientation::Normal);
        }
    }

    #[test]
    fn one_pixel_images_survive_every_orientation() {
        for exif in 1..=8 {
            let one = Rgb8 {
                data: vec![1, 2, 3],
                width: 1,
                height: 1,
            };
            assert_eq!(apply(one.clone(), Orientation::from_exif(exif)), one);
        }
    }
}
