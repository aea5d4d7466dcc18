//! Struct layouts read from the BTF of a compiled eBPF object, for the ABI drift check.
//!
//! Only what the check needs: the `.BTF` section's type table, resolved to `(size, members)` for
//! named structs. The format is the kernel's (Documentation/bpf/btf.rst).

use object::{Object as _, ObjectSection as _};

/// The layout of a struct as the C compiler laid it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StructLayout {
    /// `sizeof(struct ...)`.
    pub size: usize,
    /// `(member, byte offset, byte size)` in declaration order.
    pub members: Vec<(String, usize, usize)>,
}

/// What can go wrong reading BTF.
#[derive(Debug, thiserror::Error)]
pub enum BtfError {
    /// The ELF could not be read.
    #[error("not a readable ELF object: {0}")]
    Elf(#[from] object::Error),
    /// The object has no `.BTF` section (it was compiled without `-g`).
    #[error("the object has no .BTF section; compile it with -g")]
    NoBtf,
    /// The section is shorter than its own header says.
    #[error("the .BTF section is truncated or corrupt at byte {0}")]
    Corrupt(usize),
    /// A type id points nowhere, or a type kind we do not know.
    #[error("unsupported or dangling BTF type {0}")]
    Type(u32),
}

const KIND_INT: u32 = 1;
const KIND_PTR: u32 = 2;
const KIND_ARRAY: u32 = 3;
const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;
const KIND_ENUM: u32 = 6;
const KIND_TYPEDEF: u32 = 8;
const KIND_VOLATILE: u32 = 9;
const KIND_CONST: u32 = 10;
const KIND_RESTRICT: u32 = 11;
const KIND_ENUM64: u32 = 19;
const KIND_TYPE_TAG: u32 = 18;

#[derive(Debug, Clone)]
struct Type {
    name_off: u32,
    kind: u32,
    kind_flag: bool,
    size_or_type: u32,
    /// ARRAY: (elem type, nelems); STRUCT/UNION: (name_off, type, bit offset) per member.
    array: Option<(u32, u32)>,
    members: Vec<(u32, u32, u32)>,
}

/// The struct types of one object's BTF.
#[derive(Debug)]
pub struct Btf {
    types: Vec<Type>, // index 0 is type id 1
    strings: Vec<u8>,
}

fn u32_at(b: &[u8], at: usize) -> Result<u32, BtfError> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes(s.try_into().unwrap()))
        .ok_or(BtfError::Corrupt(at))
}

impl Btf {
    /// Reads the `.BTF` section of an ELF object.
    pub fn from_elf(elf: &[u8]) -> Result<Self, BtfError> {
        let file = object::File::parse(elf)?;
        let section = file.section_by_name(".BTF").ok_or(BtfError::NoBtf)?;
        Self::parse(section.data()?)
    }

    /// Parses raw BTF (little-endian, as clang emits for `-target bpf` on x86).
    pub fn parse(b: &[u8]) -> Result<Self, BtfError> {
        let hdr_len = u32_at(b, 4)? as usize;
        let type_off = hdr_len + u32_at(b, 8)? as usize;
        let type_len = u32_at(b, 12)? as usize;
        let str_off = hdr_len + u32_at(b, 16)? as usize;
        let str_len = u32_at(b, 20)? as usize;
        let strings = b
            .get(str_off..str_off + str_len)
            .ok_or(BtfError::Corrupt(str_off))?
            .to_vec();
        let mut types = Vec::new();
        let mut at = type_off;
        while at < type_off + type_len {
            let name_off = u32_at(b, at)?;
            let info = u32_at(b, at + 4)?;
            let size_or_type = u32_at(b, at + 8)?;
            at += 12;
            let vlen = (info & 0xffff) as usize;
            let kind = (info >> 24) & 0x1f;
            let mut ty = Type {
                name_off,
                kind,
                kind_flag: info >> 31 == 1,
                size_or_type,
                array: None,
                members: Vec::new(),
            };
            // Skip (or read) the data that follows each kind.
            at += match kind {
                KIND_INT | 14 | 17 => 4, // INT, VAR, DECL_TAG
                KIND_ARRAY => {
                    ty.array = Some((u32_at(b, at)?, u32_at(b, at + 8)?));
                    12
                }
                KIND_STRUCT | KIND_UNION => {
                    for i in 0..vlen {
                        let m = at + i * 12;
                        ty.members
                            .push((u32_at(b, m)?, u32_at(b, m + 4)?, u32_at(b, m + 8)?));
                    }
                    12 * vlen
                }
                KIND_ENUM | 13 => 8 * vlen,    // ENUM, FUNC_PROTO
                15 | KIND_ENUM64 => 12 * vlen, // DATASEC, ENUM64
                _ => 0, // PTR, FWD, TYPEDEF, modifiers, FUNC, FLOAT, TYPE_TAG
            };
            types.push(ty);
        }
        Ok(Self { types, strings })
    }

    fn name(&self, off: u32) -> String {
        let s = self.strings.get(off as usize..).unwrap_or_default();
        let end = s.iter().position(|&c| c == 0).unwrap_or(s.len());
        String::from_utf8_lossy(&s[..end]).into_owned()
    }

    fn ty(&self, id: u32) -> Result<&Type, BtfError> {
        id.checked_sub(1)
            .and_then(|i| self.types.get(i as usize))
            .ok_or(BtfError::Type(id))
    }

    fn size_of(&self, id: u32) -> Result<usize, BtfError> {
        let ty = self.ty(id)?;
        Ok(match ty.kind {
            KIND_INT | KIND_STRUCT | KIND_UNION | KIND_ENUM | KIND_ENUM64 => {
                ty.size_or_type as usize
            }
            KIND_PTR => 8,
            KIND_ARRAY => {
                let (elem, n) = ty.array.ok_or(BtfError::Type(id))?;
                self.size_of(elem)? * n as usize
            }
            KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_TYPE_TAG => {
                self.size_of(ty.size_or_type)?
            }
            _ => return Err(BtfError::Type(id)),
        })
    }

    /// The layout of `struct name`, if this object's BTF has it.
    pub fn struct_layout(&self, name: &str) -> Result<Option<StructLayout>, BtfError> {
        let Some(ty) = self
            .types
            .iter()
            .find(|t| t.kind == KIND_STRUCT && self.name(t.name_off) == name)
        else {
            return Ok(None);
        };
        let mut members = Vec::new();
        for &(name_off, type_id, offset) in &ty.members {
            // With kind_flag set the low 24 bits are the bit offset, the high 8 a bitfield size.
            let bits = if ty.kind_flag {
                offset & 0xff_ffff
            } else {
                offset
            };
            members.push((
                self.name(name_off),
                bits as usize / 8,
                self.size_of(type_id)?,
            ));
        }
        Ok(Some(StructLayout {
            size: ty.size_or_type as usize,
            members,
        }))
    }
}

/// The names of the structs `header` defines (`struct sdn_x {` at the start of a line).
pub fn header_structs(header: &str) -> Vec<String> {
    header
        .lines()
        .filter_map(|l| l.strip_prefix("struct "))
        .filter_map(|l| l.strip_suffix(" {"))
        .filter(|n| n.starts_with("sdn_"))
        .map(str::to_owned)
        .collect()
}

/// Compares the Rust mirrors with the structs of `header` and their BTF in `objects`.
///
/// Returns one line per problem: a header struct without a mirror, a mirror found in no object, or
/// a size, field name, offset or field size that differs. Empty means no drift.
pub fn drift(
    header: &str,
    objects: &[(&str, &[u8])],
    mirrors: &[crate::abi::Mirror],
) -> Vec<String> {
    let mut problems = Vec::new();
    for name in header_structs(header) {
        if !mirrors.iter().any(|m| m.c_name == name) {
            problems.push(format!(
                "struct {name} has no Rust mirror in ebpf/src/abi.rs"
            ));
        }
    }
    let btfs: Vec<(&str, Result<Btf, BtfError>)> = objects
        .iter()
        .map(|(n, elf)| (*n, Btf::from_elf(elf)))
        .collect();
    for m in mirrors {
        let mut seen = false;
        for (object, btf) in &btfs {
            let found = match btf {
                Ok(btf) => btf.struct_layout(m.c_name).map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            let layout = match found {
                Ok(Some(layout)) => layout,
                Ok(None) => continue,
                Err(e) => {
                    problems.push(format!("{object}: {e}"));
                    continue;
                }
            };
            seen = true;
            let rust = StructLayout {
                size: m.size,
                members: m
                    .fields
                    .iter()
                    .map(|&(f, o, s)| (f.to_owned(), o, s))
                    .collect(),
            };
            if layout != rust {
                problems.push(format!(
                    "struct {} drifted ({object}): C {layout:?} vs Rust {rust:?}",
                    m.c_name
                ));
            }
        }
        if !seen {
            problems.push(format!(
                "struct {} is in no object's BTF: is it used by a program?",
                m.c_name
            ));
        }
    }
    problems
}
