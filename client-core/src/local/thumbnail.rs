//! A photo's thumbnail: what a device keeps of a photo once its full file
//! was dropped under the storage budget (ADR 0031). Longest side
//! [`LONGEST_SIDE`] px, JPEG, turned upright by the photo's EXIF orientation.
//! Pure: bytes in, bytes out.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::{DynamicImage, ImageDecoder, ImageReader, Limits};

/// The longest side of a thumbnail, in pixels: a list row or a map pin on a
/// phone, enough to tell which photo is which before fetching it whole.
pub const LONGEST_SIDE: u32 = 320;

/// JPEG quality of thumbnails: about 15–25 KB each at 320 px.
const QUALITY: u8 = 75;

/// The memory a decode may take. A 50-megapixel photo decodes in 150 MB;
/// a file claiming more is not a camera's and gets no thumbnail.
const MAX_DECODE_BYTES: u64 = 256 * 1024 * 1024;

/// The thumbnail of a photo's bytes; `None` when they are not an image this
/// device can decode (HEIC, a damaged file): such a photo has no thumbnail
/// and may still be dropped.
pub fn make(bytes: &[u8]) -> Option<Vec<u8>> {
    match decode(bytes) {
        Ok(image) => encode(&shrink(image)).ok(),
        Err(e) => {
            tracing::debug!(reason = %e, "no thumbnail: not a decodable image");
            None
        }
    }
}

fn decode(bytes: &[u8]) -> image::ImageResult<DynamicImage> {
    let mut reader = ImageReader::new(Cursor::new(bytes)).with_guessed_format()?;
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let mut decoder = reader.into_decoder()?;
    // A phone stores a photo as the sensor read it and says in EXIF how to
    // turn it: a thumbnail shown sideways would be no use.
    let orientation = decoder.orientation()?;
    let mut image = DynamicImage::from_decoder(decoder)?;
    image.apply_orientation(orientation);
    Ok(image)
}

/// Scales down (never up) to fit [`LONGEST_SIDE`].
fn shrink(image: DynamicImage) -> DynamicImage {
    if image.width().max(image.height()) <= LONGEST_SIDE {
        return image;
    }
    image.thumbnail(LONGEST_SIDE, LONGEST_SIDE)
}

fn encode(image: &DynamicImage) -> image::ImageResult<Vec<u8>> {
    let mut out = Vec::new();
    // JPEG has no alpha channel: a PNG's transparency is dropped.
    JpegEncoder::new_with_quality(&mut out, QUALITY).encode_image(&image.to_rgb8())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A JPEG of `w`×`h` px of a gradient.
    pub(crate) fn jpeg(w: u32, h: u32) -> Vec<u8> {
        let image = image::RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
        });
        let mut out = Vec::new();
        JpegEncoder::new_with_quality(&mut out, 90)
            .encode_image(&image)
            .unwrap();
        out
    }

    fn size_of(thumb: &[u8]) -> (u32, u32) {
        let image = image::load_from_memory(thumb).unwrap();
        (image.width(), image.height())
    }

    #[test]
    fn a_photo_shrinks_to_its_longest_side_keeping_its_shape() {
        let thumb = make(&jpeg(1200, 900)).unwrap();
        assert_eq!(size_of(&thumb), (320, 240));
        assert!(thumb.len() < 40_000, "{} bytes", thumb.len());
        let tall = make(&jpeg(600, 1000)).unwrap();
        assert_eq!(size_of(&tall), (192, 320));
    }

    #[test]
    fn a_small_photo_is_not_blown_up() {
        assert_eq!(size_of(&make(&jpeg(200, 100)).unwrap()), (200, 100));
    }

    #[test]
    fn a_png_gets_a_jpeg_thumbnail() {
        let image = image::RgbaImage::from_pixel(640, 480, image::Rgba([10, 20, 30, 128]));
        let mut png = Vec::new();
        image::DynamicImage::ImageRgba8(image)
            .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        let thumb = make(&png).unwrap();
        assert_eq!(&thumb[..3], &[0xFF, 0xD8, 0xFF]);
        assert_eq!(size_of(&thumb), (320, 240));
    }

    #[test]
    fn bytes_after_the_end_of_a_jpeg_do_not_stop_its_thumbnail() {
        // The tests' big photos are small JPEGs padded to a camera's size.
        let mut padded = jpeg(640, 480);
        padded.resize(3_000_000, 0x55);
        assert_eq!(size_of(&make(&padded).unwrap()), (320, 240));
    }

    #[test]
    fn what_is_not_a_decodable_image_gets_none() {
        let mut fake = vec![0xFF, 0xD8, 0xFF, 0xE0];
        fake.resize(4096, 7);
        assert_eq!(make(&fake), None);
        // HEIC: recognised as a photo by its header, not decoded here.
        let mut heic = b"\0\0\0\x18ftypheic".to_vec();
        heic.resize(4096, 0);
        assert_eq!(make(&heic), None);
    }
}
