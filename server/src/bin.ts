#!/usr/bin/env node
/**
 * `astrometry-net-server`: the same as `astrometry-net serve` for those who installed only this
 * package.
 */
import { runServe } from './cli.js';

process.exitCode = await runServe(process.argv.slice(2));
