//! Helpers shared by the end-to-end tests and their helper processes.

pub mod procs;

use jpeg_encoder::{ColorType, Encoder};

/// A small but real JPEG, different for every `seed`: photo-like gradients with a seeded pattern.
pub fn synthetic_jpeg(width: u16, height: u16, seed: u64) -> Vec<u8> {
    let mut pixels = Vec::with_capacity(usize::from(width) * usize::from(height) * 3);
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    for y in 0..height {
        for x in 0..width {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let noise = (state >> 59) as u8;
            pixels.push((x as u8).wrapping_add(seed as u8).wrapping_add(noise));
            pixels.push((y as u8).wrapping_mul(2).wrapping_add(noise));
            pixels.push(((x ^ y) as u8).wrapping_add((seed >> 8) as u8));
        }
    }
    let mut out = Vec::new();
    Encoder::new(&mut out, 90)
        .encode(&pixels, width, height, ColorType::Rgb)
        .expect("encoding into memory cannot fail");
    out
}

/// One line the kill writer prints after an action returned success. The line is printed only then, so
/// everything the parent reads was acknowledged to the "user".
#[derive(Debug, Clone, PartialEq)]
pub enum Ack {
    Reported { id: String, description: String },
    Edited { id: String, description: String },
    Attached { id: String, sha256: String },
}

impl Ack {
    pub fn to_line(&self) -> String {
        match self {
            Ack::Reported { id, description } => format!("reported\t{id}\t{description}"),
            Ack::Edited { id, description } => format!("edited\t{id}\t{description}"),
            Ack::Attached { id, sha256 } => format!("attached\t{id}\t{sha256}"),
        }
    }

    /// `None` for a line cut short by the kill (no newline yet) or anything else unexpected.
    pub fn parse(line: &str) -> Option<Ack> {
        let mut parts = line.splitn(3, '\t');
        let (kind, id, rest) = (parts.next()?, parts.next()?, parts.next()?);
        let (id, rest) = (id.to_owned(), rest.to_owned());
        match kind {
            "reported" => Some(Ack::Reported {
                id,
                description: rest,
            }),
            "edited" => Some(Ack::Edited {
                id,
                description: rest,
            }),
            "attached" => Some(Ack::Attached { id, sha256: rest }),
            _ => None,
        }
    }
}
