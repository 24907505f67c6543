/**
 * The error raised for a cron expression that cannot be read.
 *
 * @module
 */

/** A field of a five-field cron expression, in the order they appear. */
export type CronField =
  | "minute"
  | "hour"
  | "day of month"
  | "month"
  | "day of week";

/**
 * An invalid cron expression. The message names the expression and, when a
 * single field is at fault, that field.
 */
export class CronExpressionError extends Error {
  /** The expression as it was given. */
  readonly expression: string;
  /** The field at fault, or null when the expression as a whole is invalid. */
  readonly field: CronField | null;

  constructor(
    message: string,
    options: { expression: string; field: CronField | null; cause?: unknown },
  ) {
    super(message, { cause: options.cause });
    this.name = "CronExpressionError";
    this.expression = options.expression;
    this.field = options.field;
  }
}
