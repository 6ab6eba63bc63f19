"""The process runtime under the jobs: executors (fresh processes, the fork server, Ray), the
market job's lock, stopping on signals, and a child's lifeline to its parent. It knows tasks
only by their protocol, never a command or a job."""
