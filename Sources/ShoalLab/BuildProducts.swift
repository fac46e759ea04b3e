import Foundation

/// Finds executables built next to the running test binary (`.build/<config>/`), so tests
/// can spawn the real Shoal processes.
public enum BuildProducts {
    /// Path of the executable `name` in the build directory of this process, or nil.
    public static func executable(_ name: String) -> String? {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dir = (exe as NSString).deletingLastPathComponent
        for _ in 0..<4 {
            let candidate = dir + "/" + name
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = (dir as NSString).deletingLastPathComponent
        }
        return nil
    }
}
