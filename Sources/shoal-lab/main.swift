// A top-level entry rather than `@main`: SwiftPM compiles a one-command executable target
// without -parse-as-library, where `@main` is rejected.
ShoalLabCommand.main()
