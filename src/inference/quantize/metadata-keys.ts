/**
 * metadata_props keys that `models quantize` writes into an INT8 file.
 *   streamsight.precision   "int8"
 *   streamsight.preprocess  JSON of the model's PreprocessSpec without `source`: the geometry
 *                           and normalisation it was calibrated with
 *   labels                  JSON array of class names (read back by labelsFromMetadata)
 */
export const PRECISION_KEY = 'streamsight.precision';
export const PREPROCESS_KEY = 'streamsight.preprocess';
export const LABELS_KEY = 'labels';

/** What `models inspect` reports: int8 when the file says so, else float32. */
export function precisionOf(metadata: Readonly<Record<string, string>>): 'int8' | 'float32' {
  return metadata[PRECISION_KEY] === 'int8' ? 'int8' : 'float32';
}
