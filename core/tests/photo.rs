//! Photo pipeline tests through the public API. Every fixture is synthesised here (JPEGs by jpeg-encoder,
//! PNGs by the png crate, EXIF as a hand-written TIFF structure) so nothing binary is committed.

// One module named after the suite, so that `cargo test -p gridpatrol-core photo` selects these too.
mod photo {
    use std::io::Cursor;

    use gridpatrol_core::photo::{
        GpsFix, ImageFormat, ImageInfo, PhotoError, PhotoLimits, ProcessedPhoto, check_image,
        process_photo, sha256_hex,
    };
    use image::RgbImage;
    use proptest::prelude::*;

    // ---------------------------------------------------------------------------------------------------
    // Fixture builders

    /// A photo-like RGB8 image: gradients plus deterministic noise, so the JPEG is not trivially small.
    fn synthetic_rgb(width: u32, height: u32) -> Vec<u8> {
        let mut state = 0x2545_f491_u32;
        let mut data = Vec::with_capacity(width as usize * height as usize * 3);
        for y in 0..height {
            for x in 0..width {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                let noise = state % 32;
                let r = (x * 200 / width + noise) as u8;
                let g = (y * 200 / height + noise) as u8;
                let b = ((x + y) * 100 / (width + height) + noise) as u8;
                data.extend_from_slice(&[r, g, b]);
            }
        }
        data
    }

    fn jpeg_of(rgb: &[u8], width: u32, height: u32, color: jpeg_encoder::ColorType) -> Vec<u8> {
        let mut out = Vec::new();
        jpeg_encoder::Encoder::new(&mut out, 90)
            .encode(rgb, width as u16, height as u16, color)
            .expect("encode fixture");
        out
    }

    fn synthetic_jpeg(width: u32, height: u32) -> Vec<u8> {
        jpeg_of(
            &synthetic_rgb(width, height),
            width,
            height,
            jpeg_encoder::ColorType::Rgb,
        )
    }

    fn png_of(
        data: &[u8],
        width: u32,
        height: u32,
        color: png::ColorType,
        depth: png::BitDepth,
    ) -> Vec<u8> {
        png_with(width, height, color, depth, |w| w.write_image_data(data))
    }

    /// A PNG whose body (after IHDR) is written by `body`.
    fn png_with(
        width: u32,
        height: u32,
        color: png::ColorType,
        depth: png::BitDepth,
        body: impl FnOnce(&mut png::Writer<&mut Vec<u8>>) -> Result<(), png::EncodingError>,
    ) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut encoder = png::Encoder::new(&mut out, width, height);
            encoder.set_color(color);
            encoder.set_depth(depth);
            if color == png::ColorType::Indexed {
                encoder.set_palette(vec![255, 0, 0, 0, 0, 255]);
            }
            let mut writer = encoder.write_header().expect("png header");
            body(&mut writer).expect("png body");
            writer.finish().expect("png finish");
        }
        out
    }

    /// One EXIF field value, in the TIFF types the camera tags use.
    enum Val {
        Short(u16),
        Long(u32),
        Ascii(&'static str),
        Rationals(Vec<(u32, u32)>),
    }

    impl Val {
        /// (TIFF type code, count, little-endian bytes)
        fn encode(&self) -> (u16, u32, Vec<u8>) {
            match self {
                Val::Short(v) => (3, 1, v.to_le_bytes().to_vec()),
                Val::Long(v) => (4, 1, v.to_le_bytes().to_vec()),
                Val::Ascii(s) => {
                    let mut bytes = s.as_bytes().to_vec();
                    bytes.push(0);
                    (2, bytes.len() as u32, bytes)
                }
                Val::Rationals(rs) => {
                    let bytes = rs
                        .iter()
                        .flat_map(|(n, d)| [n.to_le_bytes(), d.to_le_bytes()])
                        .flatten();
                    (5, rs.len() as u32, bytes.collect())
                }
            }
        }
    }

    type Ifd = Vec<(u16, Val)>;

    /// Bytes an IFD takes: count, 12-byte entries, next-IFD offset, then values too big to sit inline.
    fn ifd_len(ifd: &Ifd) -> usize {
        let out_of_line: usize = ifd
            .iter()
            .map(|(_, v)| v.encode().2.len())
            .filter(|&n| n > 4)
            .map(|n| n + n % 2)
            .sum();
        2 + 12 * ifd.len() + 4 + out_of_line
    }

    /// Appends `ifd`, which starts at TIFF offset `at` (== out.len()).
    fn write_ifd(out: &mut Vec<u8>, ifd: &Ifd) {
        let at = out.len();
        let mut data_at = at + 2 + 12 * ifd.len() + 4;
        let mut data = Vec::new();
        out.extend_from_slice(&(ifd.len() as u16).to_le_bytes());
        for (tag, val) in ifd {
            let (typ, count, mut bytes) = val.encode();
            out.extend_from_slice(&tag.to_le_bytes());
            out.extend_from_slice(&typ.to_le_bytes());
            out.extend_from_slice(&count.to_le_bytes());
            if bytes.len() <= 4 {
                bytes.resize(4, 0);
                out.extend_from_slice(&bytes);
            } else {
                out.extend_from_slice(&(data_at as u32).to_le_bytes());
                if bytes.len() % 2 == 1 {
                    bytes.push(0); // keep values word-aligned, as TIFF asks
                }
                data_at += bytes.len();
                data.extend_from_slice(&bytes);
            }
        }
        out.extend_from_slice(&0u32.to_le_bytes()); // no next IFD
        out.extend_from_slice(&data);
    }

    /// A little-endian TIFF structure: IFD0 (plus pointers to the Exif and GPS IFDs when they have fields).
    fn exif_tiff(mut ifd0: Ifd, exif: Ifd, gps: Ifd) -> Vec<u8> {
        const EXIF_POINTER: u16 = 0x8769;
        const GPS_POINTER: u16 = 0x8825;
        if !exif.is_empty() {
            ifd0.push((EXIF_POINTER, Val::Long(0)));
        }
        if !gps.is_empty() {
            ifd0.push((GPS_POINTER, Val::Long(0)));
        }
        let exif_at = 8 + ifd_len(&ifd0);
        let gps_at = exif_at + if exif.is_empty() { 0 } else { ifd_len(&exif) };
        for (tag, val) in &mut ifd0 {
            match *tag {
                EXIF_POINTER => *val = Val::Long(exif_at as u32),
                GPS_POINTER => *val = Val::Long(gps_at as u32),
                _ => {}
            }
        }
        ifd0.sort_by_key(|(tag, _)| *tag);

        let mut out = b"II*\0".to_vec();
        out.extend_from_slice(&8u32.to_le_bytes());
        for ifd in [&ifd0, &exif, &gps] {
            if !ifd.is_empty() {
                write_ifd(&mut out, ifd);
            }
        }
        out
    }

    /// `jpeg` with an `APP1 Exif` segment carrying `tiff` inserted right after SOI, where cameras put it.
    fn with_exif(jpeg: &[u8], tiff: &[u8]) -> Vec<u8> {
        let len = (2 + 6 + tiff.len()) as u16;
        let mut out = jpeg[..2].to_vec();
        out.extend_from_slice(&[0xFF, 0xE1]);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(b"Exif\0\0");
        out.extend_from_slice(tiff);
        out.extend_from_slice(&jpeg[2..]);
        out
    }

    /// EXIF as a phone in Shanghai writes it: held upright (orientation 6), local time with offset, GPS.
    fn phone_exif(orientation: u16) -> Vec<u8> {
        exif_tiff(
            vec![
                (0x0112, Val::Short(orientation)),
                (0x0132, Val::Ascii("2024:05:17 10:00:00")),
            ],
            vec![
                (0x9003, Val::Ascii("2024:05:17 09:30:05")),
                (0x9011, Val::Ascii("+08:00")),
            ],
            vec![
                (0x0001, Val::Ascii("N")),
                (0x0002, Val::Rationals(vec![(31, 1), (13, 1), (4836, 100)])),
                (0x0003, Val::Ascii("E")),
                (0x0004, Val::Rationals(vec![(121, 1), (28, 1), (2412, 100)])),
            ],
        )
    }

    fn decode(jpeg: &[u8]) -> RgbImage {
        image::load_from_memory_with_format(jpeg, image::ImageFormat::Jpeg)
            .expect("output decodes")
            .to_rgb8()
    }

    fn process(input: &[u8]) -> ProcessedPhoto {
        process_photo(input, &PhotoLimits::default()).expect("process")
    }

    fn assert_close(actual: f64, expected: f64) {
        assert!((actual - expected).abs() < 1e-9, "{actual} != {expected}");
    }

    // ---------------------------------------------------------------------------------------------------
    // Sizes and outputs

    #[test]
    fn large_jpeg_is_shrunk_to_full_and_thumb_edges() {
        let photo = process(&synthetic_jpeg(2400, 1800));
        let m = &photo.meta;
        assert_eq!(
            (m.width, m.height, m.thumb_width, m.thumb_height),
            (1600, 1200, 320, 240)
        );
        assert_eq!(decode(&photo.full).dimensions(), (1600, 1200));
        assert_eq!(decode(&photo.thumb).dimensions(), (320, 240));
        assert_eq!(m.source_format, "jpeg");
    }

    #[test]
    fn portrait_jpeg_keeps_its_aspect() {
        let photo = process(&synthetic_jpeg(900, 2000));
        let m = &photo.meta;
        assert_eq!(
            (m.width, m.height, m.thumb_width, m.thumb_height),
            (720, 1600, 144, 320)
        );
    }

    #[test]
    fn small_images_are_never_upscaled() {
        let photo = process(&synthetic_jpeg(800, 600));
        assert_eq!((photo.meta.width, photo.meta.height), (800, 600));
        assert_eq!(
            (photo.meta.thumb_width, photo.meta.thumb_height),
            (320, 240)
        );

        let tiny = process(&synthetic_jpeg(200, 100));
        assert_eq!((tiny.meta.width, tiny.meta.height), (200, 100));
        assert_eq!((tiny.meta.thumb_width, tiny.meta.thumb_height), (200, 100));
    }

    #[test]
    fn meta_describes_the_outputs() {
        let photo = process(&synthetic_jpeg(640, 480));
        let m = &photo.meta;
        assert_eq!(m.sha256, sha256_hex(&photo.full));
        assert_eq!(m.thumb_sha256, sha256_hex(&photo.thumb));
        assert_eq!(m.bytes, photo.full.len() as u64);
        assert_eq!(m.sha256.len(), 64);
        assert!(m.sha256.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')));
        assert_eq!((m.taken_at.as_deref(), m.gps), (None, None));
    }

    #[test]
    fn sha256_hex_matches_a_known_digest() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn output_is_deterministic() {
        let input = with_exif(&synthetic_jpeg(1800, 1200), &phone_exif(6));
        let (a, b) = (process(&input), process(&input));
        assert_eq!(a.full, b.full);
        assert_eq!(a.thumb, b.thumb);
        assert_eq!(a.meta, b.meta);
    }

    #[test]
    fn output_carries_no_exif() {
        let photo = process(&with_exif(&synthetic_jpeg(400, 300), &phone_exif(1)));
        assert!(photo.meta.gps.is_some(), "the input did have EXIF");
        for jpeg in [&photo.full, &photo.thumb] {
            assert!(!jpeg.windows(6).any(|w| w == b"Exif\0\0"));
            let found = exif::Reader::new().read_from_container(&mut Cursor::new(jpeg));
            assert!(found.is_err(), "kamadak-exif found EXIF in the output");
        }
    }

    #[test]
    fn meta_round_trips_through_json() {
        let photo = process(&with_exif(&synthetic_jpeg(64, 48), &phone_exif(6)));
        let json = serde_json::to_string(&photo.meta).expect("serialize");
        let back: gridpatrol_core::photo::PhotoMeta =
            serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, photo.meta);
    }

    // ---------------------------------------------------------------------------------------------------
    // EXIF facts

    #[test]
    fn gps_and_taken_at_come_from_exif() {
        let photo = process(&with_exif(&synthetic_jpeg(320, 240), &phone_exif(1)));
        assert_eq!(
            photo.meta.taken_at.as_deref(),
            Some("2024-05-17T09:30:05+08:00")
        );
        let GpsFix { lat, lon } = photo.meta.gps.expect("gps");
        assert_close(lat, 31.0 + 13.0 / 60.0 + 48.36 / 3600.0);
        assert_close(lon, 121.0 + 28.0 / 60.0 + 24.12 / 3600.0);
    }

    #[test]
    fn south_and_west_are_negative() {
        let tiff = exif_tiff(
            vec![],
            vec![],
            vec![
                (0x0001, Val::Ascii("S")),
                (0x0002, Val::Rationals(vec![(33, 1), (52, 1), (0, 1)])),
                (0x0003, Val::Ascii("W")),
                (0x0004, Val::Rationals(vec![(7030, 100), (0, 1), (0, 1)])),
            ],
        );
        let gps = process(&with_exif(&synthetic_jpeg(64, 64), &tiff))
            .meta
            .gps
            .expect("gps");
        assert_close(gps.lat, -(33.0 + 52.0 / 60.0));
        assert_close(gps.lon, -70.3);
    }

    #[test]
    fn unusable_gps_is_none() {
        let gps_of = |gps: Ifd| {
            process(&with_exif(
                &synthetic_jpeg(32, 32),
                &exif_tiff(vec![], vec![], gps),
            ))
            .meta
            .gps
        };
        // No hemisphere reference: the sign is unknown.
        assert_eq!(
            gps_of(vec![
                (0x0002, Val::Rationals(vec![(31, 1)])),
                (0x0004, Val::Rationals(vec![(121, 1)]))
            ]),
            None
        );
        // Zero denominators.
        let zero_denominator = vec![
            (0x0001, Val::Ascii("N")),
            (0x0002, Val::Rationals(vec![(31, 0), (0, 1), (0, 1)])),
            (0x0003, Val::Ascii("E")),
            (0x0004, Val::Rationals(vec![(121, 1), (0, 1), (0, 1)])),
        ];
        assert_eq!(gps_of(zero_denominator), None);
        // Out of range.
        let out_of_range = vec![
            (0x0001, Val::Ascii("N")),
            (0x0002, Val::Rationals(vec![(91, 1)])),
            (0x0003, Val::Ascii("E")),
            (0x0004, Val::Rationals(vec![(121, 1)])),
        ];
        assert_eq!(gps_of(out_of_range), None);
        // (0, 0): what receivers without a lock write.
        let null_island = vec![
            (0x0001, Val::Ascii("N")),
            (0x0002, Val::Rationals(vec![(0, 1), (0, 1), (0, 1)])),
            (0x0003, Val::Ascii("E")),
            (0x0004, Val::Rationals(vec![(0, 1), (0, 1), (0, 1)])),
        ];
        assert_eq!(gps_of(null_island), None);
    }

    #[test]
    fn taken_at_falls_back_to_datetime_and_omits_a_missing_offset() {
        let taken_at = |ifd0: Ifd, exif: Ifd| {
            process(&with_exif(
                &synthetic_jpeg(32, 32),
                &exif_tiff(ifd0, exif, vec![]),
            ))
            .meta
            .taken_at
        };
        assert_eq!(
            taken_at(vec![], vec![(0x9003, Val::Ascii("2023:12:31 23:59:59"))]).as_deref(),
            Some("2023-12-31T23:59:59")
        );
        assert_eq!(
            taken_at(
                vec![(0x0132, Val::Ascii("2023:01:02 03:04:05"))],
                vec![(0x9010, Val::Ascii("-03:00"))]
            )
            .as_deref(),
            Some("2023-01-02T03:04:05-03:00")
        );
        // An unset camera clock is no time at all.
        assert_eq!(
            taken_at(vec![], vec![(0x9003, Val::Ascii("0000:00:00 00:00:00"))]),
            None
        );
    }

    #[test]
    fn broken_exif_does_not_lose_the_photo() {
        let mut tiff = phone_exif(6);
        tiff.truncate(20); // IFD0 entries point past the end now
        let photo = process(&with_exif(&synthetic_jpeg(64, 48), &tiff));
        assert_eq!((photo.meta.width, photo.meta.height), (64, 48));

        let garbage = process(&with_exif(&synthetic_jpeg(64, 48), b"not a tiff at all"));
        assert_eq!(garbage.meta.gps, None);
    }

    // ---------------------------------------------------------------------------------------------------
    // Orientation, end to end: a landscape source with a red block in its top-left corner and a green block
    // in its top-right corner, through resize and every EXIF orientation.

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Corner {
        TopLeft,
        TopRight,
        BottomLeft,
        BottomRight,
    }

    fn marked_source(width: u32, height: u32, block: u32) -> Vec<u8> {
        let mut rgb = Vec::with_capacity((width * height * 3) as usize);
        for y in 0..height {
            for x in 0..width {
                let pixel = match (x < block, x >= width - block, y < block) {
                    (true, _, true) => [255, 0, 0],
                    (_, true, true) => [0, 255, 0],
                    _ => [40, 40, 160],
                };
                rgb.extend_from_slice(&pixel);
            }
        }
        rgb
    }

    /// The colour near the centre of `corner`'s block, a quarter of the short side in.
    fn corner_colour(image: &RgbImage, corner: Corner) -> [u8; 3] {
        let inset = image.width().min(image.height()) / 8;
        let (w, h) = image.dimensions();
        let (x, y) = match corner {
            Corner::TopLeft => (inset, inset),
            Corner::TopRight => (w - 1 - inset, inset),
            Corner::BottomLeft => (inset, h - 1 - inset),
            Corner::BottomRight => (w - 1 - inset, h - 1 - inset),
        };
        image.get_pixel(x, y).0
    }

    fn is_red(p: [u8; 3]) -> bool {
        p[0] > 200 && p[1] < 60 && p[2] < 60
    }

    fn is_green(p: [u8; 3]) -> bool {
        p[1] > 200 && p[0] < 60 && p[2] < 60
    }

    #[test]
    fn every_exif_orientation_comes_out_upright() {
        use Corner::*;
        // (orientation, where the red top-left block lands, where the green top-right block lands, swapped)
        let cases = [
            (1, TopLeft, TopRight, false),
            (2, TopRight, TopLeft, false),
            (3, BottomRight, BottomLeft, false),
            (4, BottomLeft, BottomRight, false),
            (5, TopLeft, BottomLeft, true),
            (6, TopRight, BottomRight, true),
            (7, BottomRight, TopRight, true),
            (8, BottomLeft, TopLeft, true),
        ];
        let (width, height) = (400, 200);
        let source = jpeg_of(
            &marked_source(width, height, 80),
            width,
            height,
            jpeg_encoder::ColorType::Rgb,
        );
        let limits = PhotoLimits {
            full_long_edge: 200,
            thumb_long_edge: 50,
            ..PhotoLimits::default()
        };

        for (orientation, red_at, green_at, swapped) in cases {
            let tiff = exif_tiff(vec![(0x0112, Val::Short(orientation))], vec![], vec![]);
            let photo = process_photo(&with_exif(&source, &tiff), &limits).expect("process");
            let expected = if swapped {
                ((100, 200), (25, 50))
            } else {
                ((200, 100), (50, 25))
            };
            let m = &photo.meta;
            assert_eq!(
                ((m.width, m.height), (m.thumb_width, m.thumb_height)),
                expected,
                "orientation {orientation}"
            );

            for (jpeg, what) in [(&photo.full, "full"), (&photo.thumb, "thumb")] {
                let out = decode(jpeg);
                let (red, green) = (corner_colour(&out, red_at), corner_colour(&out, green_at));
                assert!(
                    is_red(red),
                    "orientation {orientation} {what}: {red_at:?} is {red:?}, not red"
                );
                assert!(
                    is_green(green),
                    "orientation {orientation} {what}: {green_at:?} is {green:?}, not green"
                );
            }
        }
    }

    // ---------------------------------------------------------------------------------------------------
    // Other sources

    #[test]
    fn progressive_jpegs_decode_and_truncated_ones_are_refused() {
        let (w, h) = (300, 200);
        let mut input = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut input, 85);
        encoder.set_progressive(true);
        encoder
            .encode(
                &synthetic_rgb(w, h),
                w as u16,
                h as u16,
                jpeg_encoder::ColorType::Rgb,
            )
            .expect("encode progressive");
        let photo = process(&with_exif(&input, &phone_exif(6)));
        assert_eq!((photo.meta.width, photo.meta.height), (h, w));
        let e = refusal(&input[..input.len() - 40]);
        assert!(matches!(e, PhotoError::Corrupt(_)), "{e:?}");
    }

    #[test]
    fn grayscale_and_cmyk_jpegs_decode() {
        let (w, h) = (120, 80);
        let gray: Vec<u8> = (0..w * h).map(|i| (i % 251) as u8).collect();
        let photo = process(&jpeg_of(&gray, w, h, jpeg_encoder::ColorType::Luma));
        assert_eq!((photo.meta.width, photo.meta.height), (w, h));

        // A CMYK encoding of pure cyan (C=255, the rest 0) must not come out red, i.e. the conversion ran.
        let cyan: Vec<u8> = [255u8, 0, 0, 0].repeat((w * h) as usize);
        let photo = process(&jpeg_of(&cyan, w, h, jpeg_encoder::ColorType::Cmyk));
        let centre = decode(&photo.full).get_pixel(w / 2, h / 2).0;
        assert!(
            centre[0] < 80 && centre[1] > 150 && centre[2] > 150,
            "cyan came out as {centre:?}"
        );
    }

    #[test]
    fn png_colour_types_become_rgb() {
        use png::{BitDepth::*, ColorType::*};
        let (w, h) = (40, 30);
        let n = (w * h) as usize;
        let rgb16: Vec<u8> = [0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc].repeat(n);
        let cases: Vec<(&str, Vec<u8>, [u8; 3])> = vec![
            (
                "rgb",
                png_of(&[10, 20, 30].repeat(n), w, h, Rgb, Eight),
                [10, 20, 30],
            ),
            (
                "opaque rgba",
                png_of(&[10, 20, 30, 255].repeat(n), w, h, Rgba, Eight),
                [10, 20, 30],
            ),
            (
                "transparent rgba",
                png_of(&[10, 20, 30, 0].repeat(n), w, h, Rgba, Eight),
                [255, 255, 255],
            ),
            (
                "gray",
                png_of(&[90].repeat(n), w, h, Grayscale, Eight),
                [90, 90, 90],
            ),
            (
                "gray alpha",
                png_of(&[0, 255].repeat(n), w, h, GrayscaleAlpha, Eight),
                [0, 0, 0],
            ),
            (
                "palette",
                png_of(&[1].repeat(n), w, h, Indexed, Eight),
                [0, 0, 255],
            ),
            (
                "1-bit gray",
                png_of(
                    &vec![0xff; (w as usize).div_ceil(8) * h as usize],
                    w,
                    h,
                    Grayscale,
                    One,
                ),
                [255, 255, 255],
            ),
            (
                "16-bit rgb",
                png_of(&rgb16, w, h, Rgb, Sixteen),
                [0x12, 0x56, 0x9a],
            ),
        ];
        for (what, input, colour) in cases {
            let photo = process_photo(&input, &PhotoLimits::default())
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(photo.meta.source_format, "png", "{what}");
            assert_eq!((photo.meta.width, photo.meta.height), (w, h), "{what}");
            let centre = decode(&photo.full).get_pixel(w / 2, h / 2).0;
            let close = centre.iter().zip(colour).all(|(&a, b)| a.abs_diff(b) <= 3);
            assert!(close, "{what}: {centre:?} != {colour:?}");
        }
    }

    #[test]
    fn png_exif_chunk_is_read() {
        let (w, h) = (60, 20);
        let tiff = phone_exif(6);
        let input = png_with(w, h, png::ColorType::Rgb, png::BitDepth::Eight, |writer| {
            writer.write_chunk(png::chunk::eXIf, &tiff)?;
            writer.write_image_data(&synthetic_rgb(w, h))
        });
        let photo = process(&input);
        assert_eq!(
            (photo.meta.width, photo.meta.height),
            (h, w),
            "orientation 6 applied"
        );
        assert_eq!(
            photo.meta.taken_at.as_deref(),
            Some("2024-05-17T09:30:05+08:00")
        );
        assert!(photo.meta.gps.is_some());
    }

    // ---------------------------------------------------------------------------------------------------
    // Refusals

    fn refusal(input: &[u8]) -> PhotoError {
        match process_photo(input, &PhotoLimits::default()) {
            Ok(photo) => panic!("accepted: {photo:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn empty_and_non_images_are_refused() {
        assert!(matches!(refusal(b""), PhotoError::Empty));
        assert!(matches!(
            refusal(b"manhole cover missing at Lane 12\n"),
            PhotoError::NotAnImage
        ));
        assert!(matches!(
            refusal(b"GIF89a\x01\x00\x01\x00"),
            PhotoError::NotAnImage
        ));
        assert!(
            matches!(refusal(&[0xFF, 0xD8]), PhotoError::NotAnImage),
            "too short for the JPEG magic"
        );
    }

    #[test]
    fn truncated_and_corrupt_jpegs_are_corrupt() {
        let good = synthetic_jpeg(256, 192);
        for cut in [3, 20, good.len() / 4, good.len() / 2, good.len() - 200] {
            let e = refusal(&good[..cut]);
            assert!(matches!(e, PhotoError::Corrupt(_)), "cut at {cut}: {e:?}");
        }

        let mut state = 7u32;
        let mut noise = vec![0xFF, 0xD8, 0xFF];
        noise.extend((0..4096).map(|_| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (state >> 16) as u8
        }));
        assert!(matches!(refusal(&noise), PhotoError::Corrupt(_)));
    }

    #[test]
    fn corrupt_pngs_are_corrupt() {
        let (w, h) = (64, 64);
        let good = png_of(
            &synthetic_rgb(w, h),
            w,
            h,
            png::ColorType::Rgb,
            png::BitDepth::Eight,
        );
        let idat = good.windows(4).position(|x| x == b"IDAT").expect("IDAT");

        let mut bad_crc = good.clone();
        bad_crc[idat + 10] ^= 0x55;
        assert!(matches!(refusal(&bad_crc), PhotoError::Corrupt(_)));

        for cut in [10, idat + 20, good.len() - 20] {
            let e = refusal(&good[..cut]);
            assert!(matches!(e, PhotoError::Corrupt(_)), "cut at {cut}: {e:?}");
        }
    }

    #[test]
    fn oversized_input_is_refused_before_parsing() {
        let limits = PhotoLimits {
            max_input_bytes: 1000,
            ..PhotoLimits::default()
        };
        let e = process_photo(&vec![0u8; 1001], &limits).expect_err("too large");
        assert!(
            matches!(
                e,
                PhotoError::TooLarge {
                    bytes: 1001,
                    limit: 1000
                }
            ),
            "{e:?}"
        );
    }

    #[test]
    fn too_many_pixels_are_refused_from_the_header() {
        let limits = PhotoLimits {
            max_pixels: 9_999,
            ..PhotoLimits::default()
        };
        let e = process_photo(&synthetic_jpeg(100, 100), &limits).expect_err("over budget");
        assert!(
            matches!(
                e,
                PhotoError::TooManyPixels {
                    width: 100,
                    height: 100,
                    limit: 9_999
                }
            ),
            "{e:?}"
        );
    }

    #[test]
    fn decompression_bombs_are_refused_without_decoding() {
        // A JPEG whose frame header claims 65000 x 65000 (4.2 G pixels, 12 GB as RGB) but has 16x16 of data.
        let mut bomb = synthetic_jpeg(16, 16);
        let sof = bomb
            .windows(2)
            .position(|m| m == [0xFF, 0xC0])
            .expect("SOF0");
        bomb[sof + 5..sof + 9].copy_from_slice(&[0xFD, 0xE8, 0xFD, 0xE8]);
        let e = refusal(&bomb);
        assert!(
            matches!(
                e,
                PhotoError::TooManyPixels {
                    width: 65_000,
                    height: 65_000,
                    ..
                }
            ),
            "{e:?}"
        );

        // A PNG whose IHDR claims 100000 x 100000 and which has no pixel data at all.
        let png_bomb = png_with(
            100_000,
            100_000,
            png::ColorType::Rgba,
            png::BitDepth::Eight,
            |_| Ok(()),
        );
        let e = refusal(&png_bomb);
        assert!(
            matches!(
                e,
                PhotoError::TooManyPixels {
                    width: 100_000,
                    height: 100_000,
                    ..
                }
            ),
            "{e:?}"
        );
    }

    /// `jpeg` with its frame header (SOF0/1/2) edited to claim `width` x `height`; nothing else changes.
    fn with_declared_size(jpeg: &[u8], width: u16, height: u16) -> Vec<u8> {
        let mut out = jpeg.to_vec();
        let mut pos = 2;
        loop {
            assert_eq!(out[pos], 0xFF, "segment at {pos}");
            let code = out[pos + 1];
            if matches!(code, 0xC0..=0xC2) {
                out[pos + 5..pos + 7].copy_from_slice(&height.to_be_bytes());
                out[pos + 7..pos + 9].copy_from_slice(&width.to_be_bytes());
                return out;
            }
            pos += 2 + usize::from(u16::from_be_bytes([out[pos + 2], out[pos + 3]]));
        }
    }

    fn progressive_jpeg(width: u32, height: u32) -> Vec<u8> {
        let mut out = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut out, 85);
        encoder.set_progressive(true);
        encoder
            .encode(
                &synthetic_rgb(width, height),
                width as u16,
                height as u16,
                jpeg_encoder::ColorType::Rgb,
            )
            .expect("encode progressive");
        out
    }

    #[test]
    fn a_header_claiming_more_than_the_data_is_refused_at_once() {
        // A 640x480 photo whose frame header says 7000x7000 (49 MP, under the pixel budget): zune would
        // spend seconds and hundreds of MB filling the missing blocks with grey.
        for (what, source) in [
            ("baseline", synthetic_jpeg(640, 480)),
            ("progressive", progressive_jpeg(640, 480)),
            ("exif", with_exif(&synthetic_jpeg(640, 480), &phone_exif(6))),
        ] {
            let bomb = with_declared_size(&source, 7000, 7000);
            let started = std::time::Instant::now();
            let e = refusal(&bomb);
            let took = started.elapsed();
            match e {
                PhotoError::DataIncomplete {
                    width: 7000,
                    height: 7000,
                    needed,
                    found,
                } => assert!(
                    found < needed && found <= source.len() as u64,
                    "{what}: {found} / {needed}"
                ),
                other => panic!("{what}: {other:?}"),
            }
            // The walk over 60 KB takes microseconds; decoding 49 MP takes seconds even optimised.
            assert!(took.as_millis() < 500, "{what}: took {took:?}");
            let message = e_message(&bomb);
            assert!(
                message.contains("照片数据不完整")
                    && message.contains("shorter than its header claims"),
                "{message}"
            );
            assert!(
                matches!(
                    check_image(&bomb, 50_000_000),
                    Err(PhotoError::DataIncomplete { .. })
                ),
                "{what}"
            );
        }
        // Over the pixel budget, the budget is what is reported (it is checked first).
        let huge = with_declared_size(&synthetic_jpeg(64, 48), 65_000, 65_000);
        assert!(matches!(refusal(&huge), PhotoError::TooManyPixels { .. }));
    }

    fn e_message(input: &[u8]) -> String {
        refusal(input).to_string()
    }

    #[test]
    fn genuine_encodings_pass_the_data_check() {
        use jpeg_encoder::SamplingFactor::*;
        let (w, h) = (333, 250);
        let rgb = synthetic_rgb(w, h);
        let encode = |configure: &dyn Fn(&mut jpeg_encoder::Encoder<&mut Vec<u8>>),
                      data: &[u8],
                      color: jpeg_encoder::ColorType| {
            let mut out = Vec::new();
            let mut encoder = jpeg_encoder::Encoder::new(&mut out, 80);
            configure(&mut encoder);
            encoder
                .encode(data, w as u16, h as u16, color)
                .expect("encode");
            out
        };
        let rgb_ = jpeg_encoder::ColorType::Rgb;
        let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
        // Progressive with restart intervals is left out: zune-jpeg 0.4 fails on jpeg-encoder's
        // progressive scans with restart markers ("Marker SOS found in bitstream") before and after
        // the data check, while zune-jpeg 0.5 (in the image crate) decodes them.
        let variants = [(false, 0), (false, 1), (false, 7), (true, 0)];
        for sampling in [F_1_1, F_2_1, F_1_2, F_2_2, F_4_1, F_4_2] {
            for (progressive, restart) in variants {
                cases.push((
                    format!("{sampling:?} progressive={progressive} restart={restart}"),
                    encode(
                        &|e| {
                            e.set_sampling_factor(sampling);
                            e.set_progressive(progressive);
                            e.set_restart_interval(restart);
                        },
                        &rgb,
                        rgb_,
                    ),
                ));
            }
        }
        let gray: Vec<u8> = rgb.chunks(3).map(|p| p[1]).collect();
        cases.push((
            "gray".into(),
            encode(&|_| {}, &gray, jpeg_encoder::ColorType::Luma),
        ));
        cases.push((
            "optimised tables".into(),
            encode(&|e| e.set_optimized_huffman_tables(true), &rgb, rgb_),
        ));
        // The fewest bits a block can take: one flat colour, optimised tables, lowest quality.
        let flat = [128u8, 128, 128].repeat((w * h) as usize);
        for progressive in [false, true] {
            let mut out = Vec::new();
            let mut encoder = jpeg_encoder::Encoder::new(&mut out, 1);
            encoder.set_optimized_huffman_tables(true);
            encoder.set_progressive(progressive);
            encoder
                .encode(&flat, w as u16, h as u16, rgb_)
                .expect("encode flat");
            cases.push((format!("flat progressive={progressive}"), out));
        }
        // The image crate's encoder (what a server or a desktop tool would write).
        let mut by_image = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut by_image, 75)
            .encode(&rgb, w, h, image::ExtendedColorType::Rgb8)
            .expect("image encode");
        cases.push(("image crate".into(), by_image));

        for (what, jpeg) in cases {
            let info = check_image(&jpeg, 50_000_000).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(
                info,
                ImageInfo {
                    format: ImageFormat::Jpeg,
                    width: w,
                    height: h
                },
                "{what}"
            );
            let photo = process_photo(&jpeg, &PhotoLimits::default())
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!((photo.meta.width, photo.meta.height), (w, h), "{what}");
        }
    }

    #[test]
    fn check_image_reports_format_and_size_or_refuses() {
        let jpeg = synthetic_jpeg(120, 90);
        assert_eq!(
            check_image(&jpeg, 120 * 90).expect("jpeg"),
            ImageInfo {
                format: ImageFormat::Jpeg,
                width: 120,
                height: 90
            }
        );
        let png = png_of(
            &synthetic_rgb(40, 30),
            40,
            30,
            png::ColorType::Rgb,
            png::BitDepth::Eight,
        );
        assert_eq!(
            check_image(&png, 10_000).expect("png"),
            ImageInfo {
                format: ImageFormat::Png,
                width: 40,
                height: 30
            }
        );
        assert!(matches!(check_image(b"", 100), Err(PhotoError::Empty)));
        assert!(matches!(
            check_image(b"<html><script>alert(1)</script>", 100),
            Err(PhotoError::NotAnImage)
        ));
        assert!(matches!(
            check_image(&jpeg, 120 * 90 - 1),
            Err(PhotoError::TooManyPixels { .. })
        ));
        assert!(matches!(
            check_image(&jpeg[..jpeg.len() - 10], 1 << 20),
            Err(PhotoError::Corrupt(_))
        ));
        assert!(matches!(
            check_image(&png[..png.len() - 30], 1 << 20),
            Err(PhotoError::Corrupt(_))
        ));
    }

    /// The PNG counterpart of the JPEG bomb: an IHDR (with a valid CRC) claiming far more rows than the
    /// IDAT holds. The png crate fails when the compressed data runs out, so no separate walk is needed.
    #[test]
    fn a_png_claiming_more_than_its_data_is_refused() {
        let small = png_of(
            &synthetic_rgb(64, 48),
            64,
            48,
            png::ColorType::Rgb,
            png::BitDepth::Eight,
        );
        let idat = chunk_data(&small, b"IDAT");
        let bomb = png_with(2000, 2000, png::ColorType::Rgb, png::BitDepth::Eight, |w| {
            w.write_chunk(png::chunk::IDAT, &idat)
        });
        let started = std::time::Instant::now();
        for e in [
            refusal(&bomb),
            check_image(&bomb, 50_000_000).expect_err("short IDAT"),
        ] {
            assert!(matches!(e, PhotoError::Corrupt(_)), "{e:?}");
        }
        assert!(started.elapsed().as_secs() < 5);
    }

    /// The data of every chunk of type `kind`, concatenated.
    fn chunk_data(png: &[u8], kind: &[u8; 4]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut pos = 8;
        while pos + 8 <= png.len() {
            let len = u32::from_be_bytes(png[pos..pos + 4].try_into().unwrap()) as usize;
            if &png[pos + 4..pos + 8] == kind {
                out.extend_from_slice(&png[pos + 8..pos + 8 + len]);
            }
            pos += 12 + len;
        }
        out
    }

    #[test]
    fn invalid_limits_are_refused() {
        let input = synthetic_jpeg(16, 16);
        for limits in [
            PhotoLimits {
                full_long_edge: 0,
                ..PhotoLimits::default()
            },
            PhotoLimits {
                thumb_long_edge: 0,
                ..PhotoLimits::default()
            },
            PhotoLimits {
                jpeg_quality: 0,
                ..PhotoLimits::default()
            },
            PhotoLimits {
                jpeg_quality: 101,
                ..PhotoLimits::default()
            },
        ] {
            assert!(
                matches!(
                    process_photo(&input, &limits),
                    Err(PhotoError::InvalidLimits(_))
                ),
                "{limits:?}"
            );
        }
    }

    #[test]
    fn messages_carry_a_chinese_gloss() {
        assert_eq!(
            PhotoError::NotAnImage.to_string(),
            "not a JPEG or PNG image (不是 JPEG 或 PNG 图片)"
        );
        let corrupt = refusal(&synthetic_jpeg(64, 64)[..100]).to_string();
        assert!(corrupt.contains("图片已损坏或不完整"), "{corrupt}");
        let pixels = PhotoError::TooManyPixels {
            width: 1,
            height: 2,
            limit: 1,
        }
        .to_string();
        assert!(
            pixels.contains("1x2") && pixels.contains("图片像素过多"),
            "{pixels}"
        );
    }

    // ---------------------------------------------------------------------------------------------------
    // Fuzz-style: whatever the bytes, an answer and no panic.

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        #[test]
        fn mangled_jpegs_never_panic(flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
                                     cut in any::<prop::sample::Index>()) {
            let mut input = with_exif(&synthetic_jpeg(48, 40), &phone_exif(6));
            for (at, byte) in flips {
                let i = at.index(input.len());
                input[i] = byte;
            }
            let len = input.len();
            input.truncate(len / 2 + cut.index(len / 2 + 1));
            let _ = process_photo(&input, &PhotoLimits::default());
        }

        #[test]
        fn mangled_pngs_never_panic(flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
            let mut input = png_of(&synthetic_rgb(24, 20), 24, 20, png::ColorType::Rgb, png::BitDepth::Eight);
            for (at, byte) in flips {
                let i = at.index(input.len());
                input[i] = byte;
            }
            let _ = process_photo(&input, &PhotoLimits::default());
        }
    }
}
