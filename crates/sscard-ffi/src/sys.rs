//! The one place this library asks the operating system something through C: where
//! the loaded library file is (for `sscard.ini` beside it).
#![allow(unsafe_code)]

use std::path::PathBuf;

/// The directory of the file this code was loaded from: `libsscard.so`, or the
/// executable when the library was linked statically.
#[cfg(unix)]
pub fn library_dir() -> Option<PathBuf> {
    use std::ffi::{CStr, OsStr};
    use std::os::unix::ffi::OsStrExt;

    let mut info = std::mem::MaybeUninit::<libc::Dl_info>::zeroed();
    let here = library_dir as fn() -> Option<PathBuf>;
    // SAFETY: dladdr reads nothing through the address (it only looks it up in the
    // loaded objects' ranges) and writes a Dl_info into the valid, writable `info`.
    let found = unsafe { libc::dladdr(here as *const libc::c_void, info.as_mut_ptr()) };
    if found == 0 {
        return None;
    }
    // SAFETY: dladdr returned non-zero, so it filled `info`; the zeroed start also
    // makes every field a valid value.
    let info = unsafe { info.assume_init() };
    if info.dli_fname.is_null() {
        return None;
    }
    // SAFETY: dli_fname is a NUL-terminated path owned by the dynamic linker, valid
    // while the object stays loaded, which it does while this code runs.
    let name = unsafe { CStr::from_ptr(info.dli_fname) };
    let path = PathBuf::from(OsStr::from_bytes(name.to_bytes()));
    path.parent().map(PathBuf::from)
}

/// The directory of the executable (Windows DLLs are customarily installed beside it).
#[cfg(not(unix))]
pub fn library_dir() -> Option<PathBuf> {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(PathBuf::from))
}
