/** What a command's action needs from the program that runs it. */
export interface CommandContext {
  /** The process exit code; the highest one set wins. */
  setExitCode(code: number): void;
}
