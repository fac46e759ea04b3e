/// Identity of this build, shared by every Shoal executable's `--version`.
public enum ShoalVersion {
    public static let string = "0.1.0-dev"
}
