/**
 * The product's version, taken from deno.json so that a release changes it
 * in one place.
 *
 * @module
 */
import config from "../deno.json" with { type: "json" };

export const VERSION: string = config.version;
