//! Keep this shared library loaded for the life of the process.
//!
//! Deno closes a library when the isolate that opened it goes away (a
//! terminated Worker). Native threads of ours may still be running inside
//! it, so unloading would crash the process. We take one extra reference
//! that is never released.
const std = @import("std");
const builtin = @import("builtin");

const Dl_info = extern struct {
    dli_fname: ?[*:0]const u8,
    dli_fbase: ?*anyopaque,
    dli_sname: ?[*:0]const u8,
    dli_saddr: ?*anyopaque,
};

extern "c" fn dladdr(addr: *const anyopaque, info: *Dl_info) c_int;
extern "c" fn dlopen(path: ?[*:0]const u8, mode: c_int) ?*anyopaque;

extern "kernel32" fn GetModuleHandleExW(flags: u32, name: ?*const anyopaque, module: *?*anyopaque) callconv(.winapi) i32;

/// Pin the module that contains `addr`. Returns false when the OS refused.
pub fn pinModuleOf(addr: *const anyopaque) bool {
    switch (builtin.os.tag) {
        .windows => {
            const FROM_ADDRESS: u32 = 0x4;
            const PIN: u32 = 0x1;
            var module: ?*anyopaque = null;
            return GetModuleHandleExW(FROM_ADDRESS | PIN, addr, &module) != 0;
        },
        else => {
            var info: Dl_info = undefined;
            if (dladdr(addr, &info) == 0) return false;
            const RTLD_NOW: c_int = 2;
            const RTLD_NODELETE: c_int = if (builtin.os.tag.isDarwin()) 0x80 else 0x1000;
            return dlopen(info.dli_fname, RTLD_NOW | RTLD_NODELETE) != null;
        },
    }
}
