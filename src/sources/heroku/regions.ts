/**
 * Heroku region → AWS region. Common Runtime regions (`us`, `eu`) and Private Spaces regions, as
 * Heroku documents where each runs. A link's own region overrides this mapping.
 */
const HEROKU_TO_AWS: Record<string, string> = {
  us: 'us-east-1',
  eu: 'eu-west-1',
  virginia: 'us-east-1',
  oregon: 'us-west-2',
  dublin: 'eu-west-1',
  frankfurt: 'eu-central-1',
  london: 'eu-west-2',
  montreal: 'ca-central-1',
  mumbai: 'ap-south-1',
  singapore: 'ap-southeast-1',
  sydney: 'ap-southeast-2',
  tokyo: 'ap-northeast-1',
};

export function awsRegionFor(herokuRegion: string | null | undefined, linkRegion: string | null, fallback: string): string {
  if (linkRegion) return linkRegion;
  return (herokuRegion && Object.hasOwn(HEROKU_TO_AWS, herokuRegion) && HEROKU_TO_AWS[herokuRegion]) || fallback;
}
