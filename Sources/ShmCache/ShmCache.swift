/// The shared-memory caches (DESIGN.md, "The shared segment").
///
/// Not implemented yet: this module only names the segment. The tables, journal and statistics
/// come with the ShmCache issue.
public enum SegmentName {
    /// The POSIX shared-memory name of an instance's segment: `/shoal.<instance>`.
    public static func forInstance(_ instance: String) -> String { "/shoal.\(instance)" }
}
