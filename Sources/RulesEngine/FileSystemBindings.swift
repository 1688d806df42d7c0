import Foundation
import LuaKit

/// `fms.fs.usage(path)`: how full the file system holding a path is (for disk-space rules).
enum FileSystemBindings {
    static func usage(_ call: LuaCall) throws(LuaBindingError) -> LuaCallResult {
        let path = try call.string(1)
        guard !path.isEmpty else { throw call.argumentError(1, "the path is empty") }
        var info = statvfs()
        guard statvfs(path, &info) == 0 else {
            throw call.error("\(path): \(String(cString: strerror(errno)))")
        }
        let block = UInt64(info.f_frsize)
        let total = UInt64(info.f_blocks) * block
        let free = UInt64(info.f_bfree) * block
        let available = UInt64(info.f_bavail) * block
        // Saturating: a file system may report more free blocks than blocks.
        let used = total > free ? total - free : 0
        // As df(1) computes it: used / (used + available), rounded up.
        let usable = used + available
        let percent = usable == 0 ? 0 : (Double(used) * 100 / Double(usable))
        return .value(.table(LuaTable([
            "total": .integer(Int64(clamping: total)), "used": .integer(Int64(clamping: used)),
            "free": .integer(Int64(clamping: free)), "available": .integer(Int64(clamping: available)),
            "percent": .number((percent * 10).rounded(.up) / 10),
        ])))
    }
}
