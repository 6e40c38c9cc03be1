//! Downscaling with fast_image_resize (SIMD convolution, single-threaded: the crate's `rayon` feature is
//! off, and the budget is one core).

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};

use super::{PhotoError, Rgb8};

/// Dimensions that fit `long_edge` on the long side, keeping the aspect ratio; never upscales.
///
/// Symmetric: `fit_dims(h, w, e)` is `fit_dims(w, h, e)` swapped, so it may be applied before a 90°
/// rotation. The short side is rounded to nearest and kept >= 1 (a 10000x1 strip stays visible).
pub(crate) fn fit_dims(width: u32, height: u32, long_edge: u32) -> (u32, u32) {
    let long = width.max(height);
    if long <= long_edge {
        return (width, height);
    }
    let scale_short = |short: u32| -> u32 {
        let scaled =
            (u64::from(short) * u64::from(long_edge) + u64::from(long) / 2) / u64::from(long);
        // scaled <= long_edge because short <= long, so the conversion cannot fail.
        u32::try_from(scaled).unwrap_or(long_edge).max(1)
    };
    if width >= height {
        (long_edge, scale_short(height))
    } else {
        (scale_short(width), long_edge)
    }
}

/// `image` shrunk to fit `long_edge`, or `image` itself (no copy) when it already fits.
pub(crate) fn shrink(image: Rgb8, long_edge: u32) -> Result<Rgb8, PhotoError> {
    let (width, height) = fit_dims(image.width, image.height, long_edge);
    if (width, height) == (image.width, image.height) {
        return Ok(image);
    }
    resized(&image, width, height)
}

/// A copy of `src` resized to exactly `width` x `height`.
pub(crate) fn resized(src: &Rgb8, width: u32, height: u32) -> Result<Rgb8, PhotoError> {
    if (width, height) == (src.width, src.height) {
        return Ok(src.clone());
    }
    let fail = |e: &dyn std::fmt::Display| PhotoError::Resize(e.to_string());
    let src_view =
        ImageRef::new(src.width, src.height, &src.data, PixelType::U8x3).map_err(|e| fail(&e))?;
    let mut dst = Image::new(width, height, PixelType::U8x3);
    // Lanczos3 keeps the fine detail a worker photographs (cracks, signage text); fast_image_resize's
    // AVX2/NEON convolution makes it cheap enough (see benches/photo.rs).
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3));
    Resizer::new()
        .resize(&src_view, &mut dst, &options)
        .map_err(|e| fail(&e))?;
    Ok(Rgb8 {
        data: dst.into_vec(),
        width,
        height,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_dims_never_upscales() {
        assert_eq!(fit_dims(800, 600, 1600), (800, 600));
        assert_eq!(fit_dims(1600, 1200, 1600), (1600, 1200));
    }

    #[test]
    fn fit_dims_scales_the_long_side() {
        assert_eq!(fit_dims(4000, 3000, 1600), (1600, 1200));
        assert_eq!(fit_dims(3000, 4000, 1600), (1200, 1600));
        assert_eq!(fit_dims(4032, 3024, 1600), (1600, 1200));
        assert_eq!(fit_dims(1600, 1200, 320), (320, 240));
        // Rounded to nearest, never to zero.
        assert_eq!(fit_dims(1000, 3, 100), (100, 1));
        assert_eq!(fit_dims(100_000, 1, 1600), (1600, 1));
    }

    #[test]
    fn fit_dims_commutes_with_transposition() {
        for (w, h) in [
            (4000, 3000),
            (4001, 2999),
            (1601, 7),
            (5000, 5000),
            (333, 1700),
        ] {
            let (a, b) = fit_dims(w, h, 1600);
            assert_eq!(fit_dims(h, w, 1600), (b, a), "{w}x{h}");
        }
    }

    #[test]
    fn resized_keeps_a_flat_colour() {
        let src = Rgb8 {
            data: [10u8, 200, 30].repeat(64 * 48),
            width: 64,
            height: 48,
        };
        let out = resized(&src, 16, 12).expect("resize");
        assert_eq!(
            (out.width, out.height, out.data.len()),
            (16, 12, 16 * 12 * 3)
        );
        assert!(out.data.chunks_exact(3).all(|p| p == [10, 200, 30]));
    }
}
