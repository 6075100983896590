/**
 * This process's peak resident set size so far, in MB (10⁶ bytes, as P's 4·params/10⁶ is), to 0.1 MB.
 * `resourceUsage().maxRSS` is in KiB (getrusage's ru_maxrss; libuv converts macOS's bytes), so
 * dividing by 1024 alone would give MiB, 4.9 % larger units than the MB the weights are counted in.
 */
export function peakRssMb(): number {
  return Math.round((process.resourceUsage().maxRSS * 1024) / 1e5) / 10;
}
