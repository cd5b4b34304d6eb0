/**
 * metadata_props keys that `models quantize` writes into an INT8 file.
 *   streamsight.precision   "int8"
 *   streamsight.preprocess  the preprocessing it was calibrated with (preprocessValues: what
 *                           `models import` writes too, read back by the model loader)
 *   streamsight.labels      JSON array of class names, when the float model had names
 */
export { STREAMSIGHT_LABELS_KEY as LABELS_KEY } from '../labels.ts';
export { PREPROCESS_METADATA_KEY as PREPROCESS_KEY } from '../preprocess-sources.ts';

export const PRECISION_KEY = 'streamsight.precision';

/** What `models inspect` reports: int8 when the file says so, else float32. */
export function precisionOf(metadata: Readonly<Record<string, string>>): 'int8' | 'float32' {
  return metadata[PRECISION_KEY] === 'int8' ? 'int8' : 'float32';
}
