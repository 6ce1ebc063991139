/* sovereignd entry point: written next. */
int main(void)
{
    return 0;
}
