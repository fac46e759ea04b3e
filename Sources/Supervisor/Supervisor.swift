/// The supervisor `shoald` and the control client `shoalctl` (DESIGN.md, "Processes").
///
/// Not implemented yet.
public enum SupervisorStatus {
    public static let implemented = false
}
