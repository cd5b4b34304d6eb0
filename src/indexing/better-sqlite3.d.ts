/**
 * The part of better-sqlite3 12's API the index uses (the package ships no
 * types, and @types/better-sqlite3 is not installed). Rows come back as
 * `unknown`: callers check their shape.
 */
declare module 'better-sqlite3' {
  namespace BetterSqlite3 {
    interface RunResult {
      changes: number;
      lastInsertRowid: number | bigint;
    }
    interface Statement {
      run(...params: unknown[]): RunResult;
      get(...params: unknown[]): unknown;
      all(...params: unknown[]): unknown[];
      iterate(...params: unknown[]): IterableIterator<unknown>;
      raw(toggle?: boolean): this;
      pluck(toggle?: boolean): this;
    }
    interface Transaction<F extends (...args: never[]) => unknown> {
      (...args: Parameters<F>): ReturnType<F>;
      immediate(...args: Parameters<F>): ReturnType<F>;
    }
    interface Options {
      readonly?: boolean;
      fileMustExist?: boolean;
      timeout?: number;
    }
    interface Database {
      readonly open: boolean;
      readonly inTransaction: boolean;
      readonly name: string;
      prepare(sql: string): Statement;
      exec(sql: string): this;
      pragma(source: string, options?: { simple?: boolean }): unknown;
      transaction<F extends (...args: never[]) => unknown>(fn: F): Transaction<F>;
      loadExtension(file: string, entrypoint?: string): this;
      close(): this;
    }
  }
  interface DatabaseConstructor {
    new (filename: string, options?: BetterSqlite3.Options): BetterSqlite3.Database;
  }
  const Database: DatabaseConstructor;
  export default Database;
  export type { BetterSqlite3 };
}
